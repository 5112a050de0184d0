// Placeholder until the int8 kernels land.
enum Int8Ops {
    static func infer(_ op: Op, _ inputs: [ShapeInput?]) throws -> [TypedShape] {
        throw OpError("\(op.typeName) is not implemented yet")
    }
    static func run(_ op: Op, _ inputs: [TensorView?], _ outputs: [TensorView], _ ctx: ExecContext) throws {
        throw OpError("\(op.typeName) is not implemented yet")
    }
    static func workspaceBytes(_ op: Op, _ inputs: [TypedShape?], _ outputs: [TypedShape]) -> Int { 0 }
}
