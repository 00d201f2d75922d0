/// Batches through a graph made for one item: a `.kite` file converted at batch 1 runs a batch
/// of N as N runs, when nothing in the graph mixes items.
extension NativeGraph {
    /// Whether the graph keeps the items of a batch apart: every graph input has a leading
    /// dim of 1 (the batch axis), every op keeps each item of its batched inputs in the same
    /// item of its outputs (`NativeOperator.keepsBatchItemsApart`), and every graph output
    /// carries the batch axis. A batch of N items then gives, item by item, what N runs give.
    public var runsPerBatchItem: Bool { batchedValues != nil }

    /// When the graph runs a batch item by item (`runsPerBatchItem`), the values that carry the
    /// batch axis (the graph inputs and everything computed from them); nil otherwise.
    public var batchedValues: Set<String>? {
        guard !inputs.isEmpty, inputs.allSatisfy({ $0.shape.first == 1 }) else { return nil }
        var batched = Set(inputs.map(\.name))
        for node in nodes {
            let flags = node.inputs.map { batched.contains($0) }
            guard flags.contains(true) else { continue }
            let ins = node.inputs.map { shapes[$0] ?? [] }
            let outs = node.outputs.map { shapes[$0] ?? [] }
            guard zip(ins, flags).allSatisfy({ !$1 || $0.first == 1 }), outs.allSatisfy({ $0.first == 1 }),
                  node.op.nativeOperator.keepsBatchItemsApart(inputs: ins, batched: flags, outputs: outs) else { return nil }
            batched.formUnion(node.outputs)
        }
        return outputs.allSatisfy({ batched.contains($0.name) && $0.shape.first == 1 }) ? batched : nil
    }
}

extension Tensor {
    /// Item `index` along axis 0, with a leading dim of 1.
    public func batchItem(_ index: Int) -> Tensor {
        precondition(rank >= 1 && index >= 0 && index < shape[0], "batch item \(index) out of range for shape \(shape)")
        let itemShape = [1] + shape.dropFirst()
        let n = itemShape.reduce(1, *)
        switch storage {
        case .floats(let v): return Tensor(elementType: elementType, shape: itemShape, storage: .floats(Array(v[index * n ..< (index + 1) * n])))
        case .ints(let v): return Tensor(elementType: elementType, shape: itemShape, storage: .ints(Array(v[index * n ..< (index + 1) * n])))
        case .opaque(let bytes): return Tensor(elementType: elementType, shape: itemShape, storage: .opaque(byteCount: bytes / shape[0]))
        }
    }

    /// Items (each with a leading dim of 1, all of one type and shape) stacked along axis 0.
    public init(stackingBatchItems items: [Tensor]) {
        precondition(!items.isEmpty && items.allSatisfy { $0.shape == items[0].shape && $0.shape.first == 1 },
                     "batch items must share a shape with a leading 1")
        let first = items[0]
        let shape = [items.count] + first.shape.dropFirst()
        switch first.storage {
        case .floats: self.init(elementType: first.elementType, shape: shape, storage: .floats(items.flatMap(\.floats)))
        case .ints: self.init(elementType: first.elementType, shape: shape, storage: .ints(items.flatMap(\.ints)))
        case .opaque(let bytes): self.init(elementType: first.elementType, shape: shape, storage: .opaque(byteCount: bytes * items.count))
        }
    }
}
