using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Training;

/// <summary>
/// AdamW (Loshchilov &amp; Hutter) with decoupled weight decay, written out so that low-precision
/// parameters get fp32 master weights: TorchSharp has no autocast, so a bf16 model is trained by
/// keeping an fp32 copy of each bf16 parameter here, stepping that copy with fp32 moments, and
/// copying the result back into the bf16 parameter. For fp32 parameters the update is the same as
/// torch.optim.AdamW's, in place.
/// </summary>
/// <remarks>
/// Weight decay applies only to tensors of two or more dimensions (weight matrices and embeddings);
/// biases and normalisation weights are not decayed, as in the Hugging Face trainer.
/// </remarks>
internal sealed class AdamW : IDisposable
{
    private sealed class Slot
    {
        public required Parameter Param;
        public required Tensor Master;   // the parameter itself when it is fp32, else an fp32 copy
        public required Tensor ExpAvg;
        public required Tensor ExpAvgSq;
        public required bool Decay;
        public bool OwnsMaster;
    }

    private readonly List<Slot> _slots = new();
    private readonly double _beta1, _beta2, _eps, _weightDecay;
    private long _step;

    /// <summary>
    /// Whether float32 parameters in CPU memory are updated by <see cref="FusedAdamWCpu"/> (one pass over memory) rather than by
    /// libtorch operations (about nine). Same arithmetic; tests switch it off to compare the two. Default true.
    /// </summary>
    internal bool UseFusedCpuKernels { get; set; } = true;

    public AdamW(IEnumerable<Parameter> parameters, double weightDecay, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        _beta1 = beta1; _beta2 = beta2; _eps = eps; _weightDecay = weightDecay;
        using var _ = no_grad();
        foreach (var p in parameters)
        {
            if (!p.requires_grad) continue;
            bool fp32 = p.dtype == ScalarType.Float32;
            var master = fp32 ? p : p.detach().to(ScalarType.Float32).DetachFromDisposeScope();
            _slots.Add(new Slot
            {
                Param = p,
                Master = master,
                OwnsMaster = !fp32,
                ExpAvg = zeros_like(master).DetachFromDisposeScope(),
                ExpAvgSq = zeros_like(master).DetachFromDisposeScope(),
                Decay = p.dim() >= 2,
            });
        }
    }

    /// <summary>Number of parameter tensors being optimised.</summary>
    public int Count => _slots.Count;

    /// <summary>The L2 norm of all gradients together, computed in fp32.</summary>
    public double GradientNorm()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Tensor? total = null;
        double fused = 0;
        foreach (var s in _slots)
        {
            var g = s.Param.grad;
            if (g is null) continue;
            if (UseFusedCpuKernels && FusedAdamWCpu.Supports(g))
            {
                fused += FusedAdamWCpu.SquaredNorm(g);
                continue;
            }
            var sq = g.to(ScalarType.Float32).pow(2).sum();
            total = total is null ? sq : total.add_(sq);
        }
        return Math.Sqrt(fused + (total is null ? 0 : total.item<float>()));
    }

    /// <summary>
    /// One update with learning rate <paramref name="lr"/>. Gradients are multiplied by
    /// <paramref name="gradScale"/> first (clipping: max_norm / total_norm when above the limit).
    /// </summary>
    public void Step(double lr, double gradScale = 1.0)
    {
        _step++;
        double bc1 = 1 - Math.Pow(_beta1, _step);
        double bc2 = 1 - Math.Pow(_beta2, _step);
        double stepSize = lr / bc1;
        double bc2Sqrt = Math.Sqrt(bc2);
        using var _ = no_grad();
        foreach (var s in _slots)
        {
            // Tensor.grad returns a new handle each call: take it inside the scope so that the handle is
            // released at once, not at finalisation (which would keep every step's gradients alive).
            using var scope = NewDisposeScope();
            var grad = s.Param.grad;
            if (grad is null) continue;
            if (UseFusedCpuKernels && !s.OwnsMaster && FusedAdamWCpu.Supports(s.Master) && FusedAdamWCpu.Supports(grad))
            {
                FusedAdamWCpu.Update(s.Master, grad, s.ExpAvg, s.ExpAvgSq, new FusedAdamWCpu.Step(
                    Decay: s.Decay && _weightDecay != 0 ? (float)(1 - lr * _weightDecay) : 1f, (float)_beta1, (float)_beta2,
                    (float)gradScale, (float)stepSize, (float)bc2Sqrt, (float)_eps));
                continue;
            }
            var g = grad.dtype == ScalarType.Float32 ? grad : grad.to(ScalarType.Float32);
            if (gradScale != 1.0) g = g.mul(gradScale);
            if (s.Decay && _weightDecay != 0) s.Master.mul_(1 - lr * _weightDecay);
            s.ExpAvg.mul_(_beta1).add_(g, alpha: 1 - _beta1);
            s.ExpAvgSq.mul_(_beta2).addcmul_(g, g, value: 1 - _beta2);
            var denom = s.ExpAvgSq.sqrt().div_(bc2Sqrt).add_(_eps);
            s.Master.addcdiv_(s.ExpAvg, denom, value: -stepSize);
            if (s.OwnsMaster) s.Param.copy_(s.Master);
        }
    }

    /// <summary>Clears the gradients (sets them to null, freeing their memory).</summary>
    public void ZeroGrad()
    {
        foreach (var s in _slots)
        {
            var g = s.Param.grad;
            if (g is null) continue;
            s.Param.grad = null;
            g.Dispose();
        }
    }

    /// <summary>
    /// Re-synchronises the fp32 master weights from the parameters (after the model's weights were
    /// replaced, e.g. when the best evaluation is restored).
    /// </summary>
    public void ReloadMasters()
    {
        using var _ = no_grad();
        foreach (var s in _slots)
            if (s.OwnsMaster) s.Master.copy_(s.Param);
    }

    public void Dispose()
    {
        foreach (var s in _slots)
        {
            s.ExpAvg.Dispose();
            s.ExpAvgSq.Dispose();
            if (s.OwnsMaster) s.Master.Dispose();
        }
        _slots.Clear();
    }
}
