using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Qwen3;

/// <summary>
/// Every decoder layer's keys and values of a prompt prefix, one row, positions 0..P-1: [1,Hkv,P,d] each, after k_norm and
/// rotary, in key/value-head form. Made by <see cref="Qwen3ForCausalLM.PrefixKeysValues"/>; the rows of a batch that start with
/// the prefix attend to them (<see cref="Qwen3ForCausalLM.HiddenStatesAfter"/>) instead of each recomputing them.
/// </summary>
/// <remarks>Keys and values at positions below p depend only on the tokens below p (causal attention), so <see cref="Narrow"/>
/// gives those of any shorter prefix without recomputing.</remarks>
internal sealed class PrefixKeysValues(Tensor[] keys, Tensor[] values) : IDisposable
{
    /// <summary>Keys of each layer, [1,Hkv,P,d].</summary>
    public Tensor[] Keys { get; } = keys;

    /// <summary>Values of each layer, [1,Hkv,P,d].</summary>
    public Tensor[] Values { get; } = values;

    /// <summary>P, the number of prefix positions.</summary>
    public int Length => (int)Keys[0].shape[2];

    /// <summary>The dtype of the keys and values (the model's when they were computed).</summary>
    public ScalarType Dtype => Keys[0].dtype;

    /// <summary>The device of the keys and values.</summary>
    public Device Device => Keys[0].device;

    /// <summary>Views of the first <paramref name="length"/> positions (no copy; they live in the current dispose scope and leave this one's tensors alone).</summary>
    public PrefixKeysValues Narrow(int length) =>
        new(Keys.Select(k => k.narrow(2, 0, length)).ToArray(), Values.Select(v => v.narrow(2, 0, length)).ToArray());

    /// <summary>Moves the tensors to the dispose scope outside the current one.</summary>
    public PrefixKeysValues MoveToOuterDisposeScope()
    {
        foreach (var t in Keys.Concat(Values)) t.MoveToOuterDisposeScope();
        return this;
    }

    /// <summary>Takes the tensors out of every dispose scope: they then live until <see cref="Dispose"/>.</summary>
    public PrefixKeysValues DetachFromDisposeScope()
    {
        foreach (var t in Keys.Concat(Values)) t.DetachFromDisposeScope();
        return this;
    }

    /// <summary>Frees the tensors.</summary>
    public void Dispose()
    {
        foreach (var t in Keys.Concat(Values)) t.Dispose();
    }
}

/// <summary>
/// The keys and values of a prompt's fixed beginning (the chat header and the instruction before the text), computed once and
/// kept across scoring calls while the weights are final (<see cref="Training.ITrainableClassifier.WeightsFinal"/>), so that
/// one-row scoring (ML.NET's PredictionEngine) does not recompute them for every row.
/// </summary>
/// <remarks>Computed under no_grad (the cache serves inference only) and out of every dispose scope; recomputed when the model's
/// dtype or device is no longer theirs; freed by <see cref="Clear"/> and <see cref="Dispose"/>. Thread-safe: the prediction
/// engines of one transformer share it.</remarks>
internal sealed class PromptPrefixCache : IDisposable
{
    private readonly object _lock = new();
    private PrefixKeysValues? _entry;
    private int[] _ids = [];

    /// <summary>How many times the keys and values were computed (once, until the weights, dtype or device change). For tests.</summary>
    public int Computations { get; private set; }

    /// <summary>The keys and values of <paramref name="ids"/> under <paramref name="net"/>'s current weights, dtype and device.</summary>
    /// <remarks>Owned by the cache: use them (or views of them) before the next <see cref="Clear"/>, and do not dispose them.</remarks>
    public PrefixKeysValues Get(Qwen3ForCausalLM net, IReadOnlyList<int> ids)
    {
        lock (_lock)
        {
            if (_entry is not null && (_entry.Dtype != net.Dtype || _entry.Device.type != net.Device.type
                                       || _entry.Device.index != net.Device.index || !_ids.SequenceEqual(ids)))
                Clear();
            if (_entry is null)
            {
                using var noGrad = no_grad();
                _entry = net.PrefixKeysValues(ids).DetachFromDisposeScope();
                _ids = ids.ToArray();
                Computations++;
            }
            return _entry;
        }
    }

    /// <summary>Frees the cached keys and values (the weights are about to change, or have).</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _entry?.Dispose();
            _entry = null;
        }
    }

    /// <inheritdoc/>
    public void Dispose() => Clear();
}
