using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;
using Parameter = TorchSharp.Modules.Parameter;

namespace MLNetLlmClassifier.Tests.Training;

/// <summary>
/// The one-pass CPU AdamW and gradient norm (<see cref="FusedAdamWCpu"/>) against the libtorch-operation path of
/// <see cref="AdamW"/>, on tensors spanning several blocks with a length that is not a multiple of the SIMD width.
/// </summary>
[TestClass]
public class FusedAdamWCpuTests
{
    // 3 blocks of 65,536 and a ragged tail: 200,003 elements (prime, so no vector width divides it).
    private static Parameter[] NewParameters() =>
    [
        new Parameter(torch.randn(new long[] { 200_003 }, generator: new Generator(5)).view(200_003, 1)),
        new Parameter(torch.randn(new long[] { 7 }, generator: new Generator(6))),
    ];

    private static void Gradients(Parameter[] ps, int step)
    {
        var gen = new Generator((ulong)(50 + step));
        foreach (var p in ps)
            p.grad = torch.randn(p.shape, generator: gen) * (step + 1);
    }

    [TestMethod]
    public void FusedUpdatesAndNormMatchTheLibtorchPath()
    {
        var fused = NewParameters();
        var plain = NewParameters();
        using var a = new AdamW(fused, weightDecay: 0.1);
        using var b = new AdamW(plain, weightDecay: 0.1) { UseFusedCpuKernels = false };
        for (int step = 0; step < 4; step++)
        {
            Gradients(fused, step);
            Gradients(plain, step);
            double na = a.GradientNorm(), nb = b.GradientNorm();
            Assert.AreEqual(nb, na, 1e-5 * nb, $"step {step}: gradient norm");
            double scale = step == 2 ? 0.25 : 1.0; // clipping on one step
            a.Step(1e-2, scale);
            b.Step(1e-2, scale);
            a.ZeroGrad();
            b.ZeroGrad();
        }
        for (int i = 0; i < fused.Length; i++)
        {
            double maxDiff = (fused[i] - plain[i]).abs().max().item<float>();
            Assert.IsTrue(maxDiff < 1e-6, $"parameter {i}: fused and libtorch AdamW differ by {maxDiff}");
            Assert.IsFalse(fused[i].allclose(NewParameters()[i]), $"parameter {i} did not move");
        }
    }

    [TestMethod]
    public void OnlyContiguousFloat32CpuTensorsQualify()
    {
        Assert.IsTrue(FusedAdamWCpu.Supports(torch.zeros(3, 4)));
        Assert.IsFalse(FusedAdamWCpu.Supports(torch.zeros(3, 4).t()), "a transposed view is not contiguous");
        Assert.IsFalse(FusedAdamWCpu.Supports(torch.zeros(3, 4, dtype: ScalarType.BFloat16)));
    }
}
