/** Messages a pipeline supervisor accepts from its children. */
export type PipelineCommand = { readonly type: "SnapshotCompleted" };
