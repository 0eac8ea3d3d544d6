using TorchSharp;

namespace MLNetLlmClassifier.Tests.Checkpoints;

/// <summary>Exact tensor comparisons for round-trip tests.</summary>
internal static class TensorAssert
{
    /// <summary>Same dtype, same shape, same bytes (so -0.0 vs 0.0 or NaN payloads count as differences).</summary>
    public static void SameBytes(torch.Tensor expected, torch.Tensor actual, string what)
    {
        Assert.AreEqual(expected.dtype, actual.dtype, $"{what}: dtype");
        CollectionAssert.AreEqual(expected.shape, actual.shape, $"{what}: shape");
        // A scope, not `using var`: cpu()/contiguous() may hand back the tensor itself, which is not ours to dispose.
        using var scope = torch.NewDisposeScope();
        var e = expected.cpu().contiguous();
        var a = actual.cpu().contiguous();
        Assert.IsTrue(e.bytes.SequenceEqual(a.bytes), $"{what}: values differ");
    }
}
