// Spatial geometry shared by the convolution and pooling kernels.

/// Spatial geometry of a 2-D convolution or pooling window over an NHWC tensor (batch 1).
///
/// Output size defaults to ONNX floor semantics,
/// `(in + padBegin + padEnd - dilation * (kernel - 1) - 1) / stride + 1`; pooling with
/// `ceil_mode` passes the larger output size explicitly and the kernels clip windows that
/// extend past the padded input.
public struct ConvGeometry: Equatable, Sendable {
    /// Input height (H).
    public var inputHeight: Int
    /// Input width (W).
    public var inputWidth: Int
    /// Kernel (window) height.
    public var kernelHeight: Int
    /// Kernel (window) width.
    public var kernelWidth: Int
    /// Vertical stride.
    public var strideHeight: Int
    /// Horizontal stride.
    public var strideWidth: Int
    /// Padding above the input.
    public var padTop: Int
    /// Padding left of the input.
    public var padLeft: Int
    /// Padding below the input.
    public var padBottom: Int
    /// Padding right of the input.
    public var padRight: Int
    /// Vertical dilation.
    public var dilationHeight: Int
    /// Horizontal dilation.
    public var dilationWidth: Int
    /// Output height.
    public var outputHeight: Int
    /// Output width.
    public var outputWidth: Int

    /// Creates a geometry; output size is computed with floor semantics unless given.
    public init(inputHeight: Int, inputWidth: Int,
                kernelHeight: Int, kernelWidth: Int,
                strideHeight: Int = 1, strideWidth: Int = 1,
                padTop: Int = 0, padLeft: Int = 0, padBottom: Int = 0, padRight: Int = 0,
                dilationHeight: Int = 1, dilationWidth: Int = 1,
                outputHeight: Int? = nil, outputWidth: Int? = nil) {
        precondition(inputHeight > 0 && inputWidth > 0 && kernelHeight > 0 && kernelWidth > 0, "empty geometry")
        precondition(strideHeight > 0 && strideWidth > 0 && dilationHeight > 0 && dilationWidth > 0, "bad stride/dilation")
        precondition(padTop >= 0 && padLeft >= 0 && padBottom >= 0 && padRight >= 0, "negative padding")
        self.inputHeight = inputHeight
        self.inputWidth = inputWidth
        self.kernelHeight = kernelHeight
        self.kernelWidth = kernelWidth
        self.strideHeight = strideHeight
        self.strideWidth = strideWidth
        self.padTop = padTop
        self.padLeft = padLeft
        self.padBottom = padBottom
        self.padRight = padRight
        self.dilationHeight = dilationHeight
        self.dilationWidth = dilationWidth
        self.outputHeight = outputHeight
            ?? (inputHeight + padTop + padBottom - dilationHeight * (kernelHeight - 1) - 1) / strideHeight + 1
        self.outputWidth = outputWidth
            ?? (inputWidth + padLeft + padRight - dilationWidth * (kernelWidth - 1) - 1) / strideWidth + 1
        precondition(self.outputHeight > 0 && self.outputWidth > 0, "empty output")
    }

    /// Output columns `[lo, hi)` whose whole window lies inside the input horizontally.
    @inlinable
    public var interiorColumns: Range<Int> {
        interior(outputs: outputWidth, input: inputWidth, kernel: kernelWidth, stride: strideWidth,
                 pad: padLeft, dilation: dilationWidth)
    }

    /// Output rows `[lo, hi)` whose whole window lies inside the input vertically.
    @inlinable
    public var interiorRows: Range<Int> {
        interior(outputs: outputHeight, input: inputHeight, kernel: kernelHeight, stride: strideHeight,
                 pad: padTop, dilation: dilationHeight)
    }

    @inlinable
    func interior(outputs: Int, input: Int, kernel: Int, stride: Int, pad: Int, dilation: Int) -> Range<Int> {
        // o * stride - pad >= 0  and  o * stride - pad + dilation * (kernel - 1) <= input - 1
        let lo = (pad + stride - 1) / stride
        let span = input - 1 - dilation * (kernel - 1) + pad
        let hi = span < 0 ? 0 : span / stride + 1
        let l = min(lo, outputs), h = min(max(hi, l), outputs)
        return l..<h
    }
}
