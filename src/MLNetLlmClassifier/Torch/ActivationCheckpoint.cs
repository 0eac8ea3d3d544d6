using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Torch;

/// <summary>
/// Gradient (activation) checkpointing of one block, TorchSharp's missing <c>torch.utils.checkpoint</c>: the block's forward
/// runs without building a graph, so none of its intermediate activations stay alive, only its input; backward runs the block
/// again with gradients on and backpropagates the incoming gradient through that recomputation into the block's parameters and
/// input. Memory falls from (the block's activations × blocks) to (one input per block + one block's activations), for
/// about one extra forward pass of compute.
/// </summary>
/// <remarks>
/// <para>Built on TorchSharp's custom autograd function (<see cref="autograd.SingleTensorFunction{T}"/>). The graph inputs of the
/// node are the block input and the block's trainable parameters (those with <c>requires_grad</c>), so gradients reach frozen
/// bases' adapters (LoRA) even when the block input needs no gradient, and frozen parameters get none. The constant tensors (rotary
/// tables, masks) are saved with the node, so the caller may dispose its handles.</para>
/// <para><b>Randomness.</b> A block that draws random numbers in training (dropout) must draw the same ones when recomputed. On the
/// CPU the generator's state is saved before the forward and restored around the recomputation (then put back), so the masks, the
/// result and the random stream are exactly those of a run without checkpointing. TorchSharp 0.107 cannot read the CUDA generator's
/// state, so on CUDA such a block is refused (<see cref="NotSupportedException"/>); Qwen3 has no dropout (attention_dropout 0).</para>
/// <para><b>Handles.</b> The gradients handed back to the autograd engine must outlive the callback (the engine copies them after it
/// returns), so they are released at the next checkpoint call (forward or backward) on the same thread instead: at most one block's
/// gradients wait.</para>
/// </remarks>
internal static class ActivationCheckpoint
{
    /// <summary>What a block computes from its (recomputable) input and its constants.</summary>
    public delegate Tensor Block(Tensor input, IReadOnlyList<Tensor?> constants);

    /// <summary>
    /// <paramref name="block"/>(<paramref name="input"/>, <paramref name="constants"/>) with the block's activations recomputed in backward.
    /// Call it only when a graph is wanted (training with gradients on); elsewhere run the block directly.
    /// </summary>
    /// <param name="module">The block's module: its parameters with <c>requires_grad</c> receive gradients.</param>
    /// <param name="block">Runs the block; called once in forward (no graph) and once per backward (with a graph).</param>
    /// <param name="input">The block input [.., D].</param>
    /// <param name="usesRandomness">Whether the block draws random numbers in this mode (dropout in training).</param>
    /// <param name="constants">Tensors the block reads but that need no gradient (may contain nulls).</param>
    public static Tensor Run(nn.Module module, Block block, Tensor input, bool usesRandomness, params Tensor?[] constants)
    {
        ReleasePending();
        if (usesRandomness && input.device.type != DeviceType.CPU)
            throw new NotSupportedException(
                "GradientCheckpointing with dropout on CUDA is not supported: TorchSharp 0.107 cannot save the CUDA random state, so the " +
                "recomputed dropout masks would differ from the forward's. Set the dropout to 0 or turn GradientCheckpointing off.");
        var trainable = module.parameters().Where(p => p.requires_grad).ToArray();
        var call = new Call(block, constants.Length, input.requires_grad, trainable,
            usesRandomness ? torch.get_rng_state().DetachFromDisposeScope() : null);
        var args = new object[2 + constants.Length + trainable.Length];
        args[0] = input;
        args[1] = call;
        for (int i = 0; i < constants.Length; i++) args[2 + i] = constants[i]!; // a null is no graph input
        for (int i = 0; i < trainable.Length; i++) args[2 + constants.Length + i] = trainable[i];
        return Function.apply(args);
    }

    private static long _recomputations;

    /// <summary>Blocks recomputed in backward since the process started (tests check that checkpointing really ran).</summary>
    internal static long Recomputations => Interlocked.Read(ref _recomputations);

    // Per thread: the engine copies a callback's gradients after it returns, so only a later call on the same thread (the engine runs a
    // device's backward on one thread) knows the copy is done. Another thread training another model must not release them.
    [ThreadStatic]
    private static List<Tensor>? t_pending;

    /// <summary>Disposes the gradients this thread's last checkpoint backward handed to the engine (which holds its own references).</summary>
    internal static void ReleasePending()
    {
        if (t_pending is null) return;
        foreach (var t in t_pending) t.Dispose();
        t_pending.Clear();
    }

    // The non-tensor state of one application, kept with the node (save_data).
    private sealed class Call(Block block, int constantCount, bool inputNeedsGrad, Parameter[] trainable, Tensor? rngState)
    {
        public Block Block { get; } = block;
        public int ConstantCount { get; } = constantCount;
        public bool InputNeedsGrad { get; } = inputNeedsGrad;
        public Parameter[] Trainable { get; } = trainable;
        public Tensor? RngState { get; } = rngState;
    }

    // args: [input, call, constants (null for none)..., trainable parameters...].
    private sealed class Function : autograd.SingleTensorFunction<Function>
    {
        public override string Name => "ActivationCheckpoint";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var input = (Tensor)vars[0];
            var call = (Call)vars[1];
            var constants = Constants(vars, call);
            ctx.save_for_backward([input, .. constants]);
            ctx.save_data("call", call);
            return call.Block(input, constants); // autograd is off here (apply runs forward under no_grad)
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            ReleasePending();
            var call = (Call)ctx.get_data("call");
            var grads = new List<Tensor?>();
            using (var scope = NewDisposeScope())
            {
                var saved = ctx.get_saved_variables();
                Tensor input;
                Tensor output;
                using (torch.enable_grad())
                {
                    input = saved[0].detach().requires_grad_(call.InputNeedsGrad);
                    var constants = saved.Skip(1).Take(call.ConstantCount).ToArray();
                    if (call.RngState is null) output = call.Block(input, constants);
                    else
                    {
                        using var current = torch.get_rng_state();
                        torch.set_rng_state(call.RngState);
                        try { output = call.Block(input, constants); }
                        finally { torch.set_rng_state(current); }
                    }
                }
                var wrt = new List<Tensor>();
                if (call.InputNeedsGrad) wrt.Add(input);
                wrt.AddRange(call.Trainable);
                var computed = wrt.Count == 0 ? [] : torch.autograd.grad([output], wrt, [gradOutput], allow_unused: true);
                int k = 0;
                grads.Add(call.InputNeedsGrad ? computed[k++] : null);
                grads.Add(null);                                                     // the call object
                for (int i = 0; i < call.ConstantCount; i++) grads.Add(null);        // constants need no gradient
                for (int i = 0; i < call.Trainable.Length; i++) grads.Add(computed[k++]);
                foreach (var g in grads) g?.DetachFromDisposeScope();
            }
            call.RngState?.Dispose();
            Interlocked.Increment(ref _recomputations);
            (t_pending ??= []).AddRange(grads.OfType<Tensor>());
            return grads!;
        }

        private static Tensor?[] Constants(object[] vars, Call call) =>
            Enumerable.Range(0, call.ConstantCount).Select(i => vars[2 + i] as Tensor).ToArray();
    }
}

/// <summary>A module whose layers can be checkpointed (<see cref="ActivationCheckpoint"/>); the training loop sets the flag from
/// <see cref="TransformerTrainerOptions.GradientCheckpointing"/> on every such module of the model.</summary>
internal interface ICheckpointableModule
{
    /// <summary>Whether the layers are recomputed in backward (only in training mode with gradients on). Default false.</summary>
    bool GradientCheckpointing { get; set; }

    /// <summary>Sets the flag on <paramref name="root"/> and every submodule that supports it; returns how many do.</summary>
    static int Apply(nn.Module root, bool enabled)
    {
        int count = 0;
        foreach (var m in root.modules().Prepend(root).OfType<ICheckpointableModule>())
        {
            m.GradientCheckpointing = enabled;
            count++;
        }
        return count;
    }
}
