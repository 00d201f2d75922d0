import KiteCore

extension LoweringState {
    /// Gives every data input a concrete shape: from `options.inputShapes`, else its
    /// declared dims, with a symbolic or unknown first (batch) dim set to
    /// `options.defaultDimension` (noted); other free dims must be given. A given shape
    /// must agree with every fixed declared dim.
    func bindInputs(_ options: Lowering.Options, notes: inout [String]) throws {
        let dataInputs = model.graph.dataInputs
        var names = Set<String>()
        for input in dataInputs where !names.insert(input.name).inserted {
            throw KiteError.malformed(ErrorContext(file: file, tensor: input.name), "the graph declares this input more than once")
        }
        for name in options.inputShapes.keys.sorted() where !names.contains(name) {
            let list = dataInputs.map { "'\($0.name)'" }.joined(separator: ", ")
            throw KiteError.invalidArgument("\(file): a shape is given for '\(name)', which is not an input of the model; its inputs are: \(list)")
        }
        for input in dataInputs {
            if input.kind != .tensor && input.kind != .undeclared {
                unsupported.append(UnsupportedNode(
                    context: ErrorContext(file: file, tensor: input.name),
                    reason: "graph input of kind \(input.kind.rawValue): Kite runs tensors only"))
                values[input.name] = .unavailable
                continue
            }
            let shape = try resolveShape(input, given: options.inputShapes[input.name],
                                         defaultDimension: options.defaultDimension, notes: &notes)
            guard checkedElementCount(shape) != nil else {
                throw KiteError.invalidArgument("\(file): input '\(input.name)': shape \(shape) has too many elements")
            }
            if !(input.elementType.isFloatingPoint || input.elementType.isInteger || input.elementType == .undefined) {
                unsupported.append(UnsupportedNode(
                    context: ErrorContext(file: file, tensor: input.name),
                    reason: "graph input of type \(input.elementType): Kite runs numeric and bool inputs only"))
                values[input.name] = .unavailable
                continue
            }
            values[input.name] = .runtime(name: input.name, shape: shape)
            shapes[input.name] = shape
            types[input.name] = input.elementType == .undefined ? .float : input.elementType
            inputs.append(ValueInfo(name: input.name, shape: shape))
        }
    }

    private func resolveShape(_ input: ONNXValueInfo, given: [Int]?, defaultDimension: Int,
                              notes: inout [String]) throws -> [Int] {
        let prefix = "\(file): input '\(input.name)'"
        if let given {
            if let bad = given.first(where: { $0 < 0 }) {
                throw KiteError.invalidArgument("\(prefix): given shape \(given) has dimension \(bad); dimensions must be at least 0")
            }
            if let dims = input.dims {
                guard dims.count == given.count else {
                    throw KiteError.invalidArgument("\(prefix): given shape \(given) has rank \(given.count) but the model declares [\(dims.map(\.description).joined(separator: ", "))] (rank \(dims.count))")
                }
                for (i, (dim, value)) in zip(dims, given).enumerated() {
                    if case .value(let fixed) = dim, fixed != value {
                        throw KiteError.invalidArgument("\(prefix): given shape \(given) contradicts the declared shape [\(dims.map(\.description).joined(separator: ", "))] at dim \(i) (\(value) vs \(fixed))")
                    }
                }
            }
            return given
        }
        guard let dims = input.dims else {
            throw KiteError.invalidArgument("\(prefix) declares no shape; give one (e.g. --shape \(input.name)=1x3x224x224)")
        }
        // A free batch dim takes the default; a free image size has no sensible default
        // (1x1 would plan, run and benchmark a different network), so it must be given.
        let free = dims.indices.dropFirst().filter { if case .value = dims[$0] { return false } else { return true } }
        if !free.isEmpty {
            let named = free.map { i in if case .param(let p) = dims[i] { return "'\(p)'" } else { return "\(i)" } }
            let example = dims.enumerated().map { i, dim -> String in
                if case .value(let v) = dim { return "\(v)" }
                if i == 0 { return "\(defaultDimension)" }
                if case .param(let p) = dim { return "<\(p)>" }
                return "<dim\(i)>"
            }.joined(separator: "x")
            throw KiteError.invalidArgument("\(prefix) has free dims [\(dims.map(\.description).joined(separator: ", "))]: "
                + "give \(free.count == 1 ? "the size of dim" : "the sizes of dims") \(named.joined(separator: ", ")) with --shape \(input.name)=\(example)")
        }
        var shape: [Int] = []
        for (i, dim) in dims.enumerated() {
            switch dim {
            case .value(let v):
                shape.append(v)
            case .param(let p):
                notes.append("input '\(input.name)': dim '\(p)' set to \(defaultDimension)")
                shape.append(defaultDimension)
            case .unknown:
                notes.append("input '\(input.name)': unknown dim \(i) set to \(defaultDimension)")
                shape.append(defaultDimension)
            }
        }
        return shape
    }
}
