using MLNetLlmClassifier.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Training;

[TestClass]
public class AdamWTests
{
    private static (Tensor w, Tensor b) Params(ScalarType dtype)
    {
        var gen = new torch.Generator(42);
        var w = torch.randn(new long[] { 4, 3 }, generator: gen).to(dtype).requires_grad_();
        var b = torch.randn(new long[] { 3 }, generator: gen).to(dtype).requires_grad_();
        return (w, b);
    }

    private static void Backward(Tensor w, Tensor b, int step)
    {
        var gen = new torch.Generator((ulong)(100 + step));
        var x = torch.randn(new long[] { 5, 4 }, generator: gen).to(w.dtype);
        x.matmul(w).add(b).pow(2).sum().backward();
    }

    [TestMethod]
    public void MatchesTorchAdamWWithDecayOnlyOnMatrices()
    {
        var (w1, b1) = Params(ScalarType.Float32);
        var (w2, b2) = Params(ScalarType.Float32);
        var p1 = new[] { new TorchSharp.Modules.Parameter(w1), new TorchSharp.Modules.Parameter(b1) };
        using var ours = new AdamW(p1, weightDecay: 0.1);
        var pw = new TorchSharp.Modules.Parameter(w2); var pb = new TorchSharp.Modules.Parameter(b2);
        var reference = torch.optim.AdamW(new[]
        {
            new TorchSharp.Modules.AdamW.ParamGroup(new[] { pw }, new TorchSharp.Modules.AdamW.Options { LearningRate = 0.01, weight_decay = 0.1 }),
            new TorchSharp.Modules.AdamW.ParamGroup(new[] { pb }, new TorchSharp.Modules.AdamW.Options { LearningRate = 0.01, weight_decay = 0.0 }),
        }, lr: 0.01);
        for (int step = 0; step < 5; step++)
        {
            Backward(p1[0], p1[1], step);
            ours.Step(0.01);
            ours.ZeroGrad();
            Backward(pw, pb, step);
            reference.step();
            reference.zero_grad();
        }
        Assert.IsTrue(p1[0].allclose(pw, rtol: 1e-5, atol: 1e-6), "weights differ from torch AdamW");
        Assert.IsTrue(p1[1].allclose(pb, rtol: 1e-5, atol: 1e-6), "biases differ from torch AdamW");
    }

    [TestMethod]
    public void Bf16ParametersFollowTheirFp32Masters()
    {
        var (w32, b32) = Params(ScalarType.Float32);
        var (w16, b16) = Params(ScalarType.BFloat16);
        var initial = w16.detach().clone();
        var p32 = new[] { new TorchSharp.Modules.Parameter(w32), new TorchSharp.Modules.Parameter(b32) };
        var p16 = new[] { new TorchSharp.Modules.Parameter(w16), new TorchSharp.Modules.Parameter(b16) };
        using var o32 = new AdamW(p32, 0.01);
        using var o16 = new AdamW(p16, 0.01);
        // Many tiny steps: without fp32 masters, bf16 rounding would swallow updates of 1e-4 on values near 1.
        for (int step = 0; step < 20; step++)
        {
            foreach (var (p, o) in new[] { (p32, o32), (p16, o16) })
            {
                using (no_grad()) { p[0].grad = ones_like(p[0]); p[1].grad = ones_like(p[1]); }
                o.Step(1e-4);
                o.ZeroGrad();
            }
        }
        var diff = (p16[0].to(ScalarType.Float32) - p32[0]).abs().max().item<float>();
        Assert.IsTrue(diff < 0.02, $"bf16 drifted from fp32 by {diff}");
        // 20 steps of 1e-4 move each weight by about 2e-3, below bf16's resolution near 1 (7.8e-3) per step:
        // only accumulation in the fp32 master makes the bf16 parameter move at all.
        var moved = (p16[0].to(ScalarType.Float32) - initial.to(ScalarType.Float32)).abs().max().item<float>();
        Assert.IsTrue(moved > 1e-3, $"the bf16 parameter did not move ({moved})");
        Assert.AreEqual(ScalarType.BFloat16, p16[0].dtype);
    }

    [TestMethod]
    public void GradientNormIsTheGlobalL2Norm()
    {
        var p = new TorchSharp.Modules.Parameter(zeros(2, 2));
        var q = new TorchSharp.Modules.Parameter(zeros(3));
        using var o = new AdamW(new[] { p, q }, 0);
        using (no_grad()) { p.grad = full(new long[] { 2, 2 }, 1f); q.grad = tensor(new[] { 2f, 2f, 2f }); }
        Assert.AreEqual(4.0, o.GradientNorm(), 1e-6);
    }
}
