using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Configuration;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// The hyperparameters of one trial: which candidate (trainer) of the sweep it runs and a value for each
/// dimension of that candidate's <see cref="SearchSpace"/>. Immutable; read values by name or with <see cref="Get{T}"/>.
/// </summary>
public sealed class TrialParameters : IReadOnlyDictionary<string, object?>
{
    private readonly Dictionary<string, object?> _values;
    private readonly string[] _order;

    /// <summary>Creates the parameters of a trial of <paramref name="candidate"/>.</summary>
    public TrialParameters(string candidate, SearchSpace space, IReadOnlyDictionary<string, object?> values)
    {
        ArgumentNullException.ThrowIfNull(space);
        ArgumentNullException.ThrowIfNull(values);
        Candidate = candidate ?? throw new ArgumentNullException(nameof(candidate));
        Space = space;
        _values = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var d in space)
        {
            if (!values.TryGetValue(d.Name, out var v))
                throw new ArgumentException($"Trial parameters of '{candidate}' have no value for '{d.Name}'.", nameof(values));
            if (d is ChoiceDimension c && c.IndexOf(v) < 0)
                throw new ArgumentException($"Trial parameter '{d.Name}' = {ChoiceOption.LabelOf(v)} is not one of its choices.", nameof(values));
            _values[d.Name] = v;
        }
        var extra = values.Keys.FirstOrDefault(k => space.Find(k) is null);
        if (extra is not null) throw new ArgumentException($"Trial parameter '{extra}' is not a dimension of the search space of '{candidate}'.", nameof(values));
        _order = space.Select(d => d.Name).ToArray();
        Key = candidate + "|" + string.Join("|", _order.Select(n => n + "=" + Format(n)));
    }

    /// <summary>The candidate (trainer) of the sweep this trial runs.</summary>
    public string Candidate { get; }

    /// <summary>The search space the values come from.</summary>
    public SearchSpace Space { get; }

    /// <summary>A canonical text of the candidate and values: two trials with the same key are the same configuration.</summary>
    public string Key { get; }

    /// <summary>The value of a dimension converted to <typeparamref name="T"/> (as it would be set on an option of that type).</summary>
    public T Get<T>(string name) => (T)OptionsBinder.ConvertValue(this[name], typeof(T), name)!;

    /// <summary>The value of a dimension as text: numbers in invariant culture, choices by label.</summary>
    public string Format(string name)
    {
        var d = Space[name];
        var v = _values[d.Name];
        return d switch
        {
            ChoiceDimension c => c.LabelOf(v),
            UniformDimension => Convert.ToDouble(v, CultureInfo.InvariantCulture).ToString("G6", CultureInfo.InvariantCulture),
            _ => Convert.ToString(v, CultureInfo.InvariantCulture) ?? "",
        };
    }

    /// <summary>The values as a JSON object (numbers as numbers, choices by label).</summary>
    public JsonObject ToJson()
    {
        var o = new JsonObject();
        foreach (var n in _order) o[n] = Space[n].ToJson(_values[n]);
        return o;
    }

    /// <summary>Reads values written by <see cref="ToJson"/> back with the candidate's space.</summary>
    public static TrialParameters FromJson(string candidate, SearchSpace space, JsonElement values)
    {
        if (values.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"The parameters of a trial of '{candidate}' are not a JSON object.");
        var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var p in values.EnumerateObject())
        {
            var d = space.Find(p.Name) ?? throw new InvalidDataException($"Trial parameter '{p.Name}' is not a dimension of the search space of '{candidate}'.");
            dict[d.Name] = d.FromJson(p.Value);
        }
        return new TrialParameters(candidate, space, dict);
    }

    /// <inheritdoc/>
    public object? this[string key] => _values.TryGetValue(key, out var v) ? v
        : Space.Find(key) is { } d ? _values[d.Name]
        : throw new KeyNotFoundException($"Trial parameters of '{Candidate}' have no '{key}' (they have: {string.Join(", ", _order)}).");

    /// <inheritdoc/>
    public IEnumerable<string> Keys => _order;

    /// <inheritdoc/>
    public IEnumerable<object?> Values => _order.Select(n => _values[n]);

    /// <inheritdoc/>
    public int Count => _order.Length;

    /// <inheritdoc/>
    public bool ContainsKey(string key) => Space.Find(key) is not null;

    /// <inheritdoc/>
    public bool TryGetValue(string key, out object? value)
    {
        if (Space.Find(key) is { } d) { value = _values[d.Name]; return true; }
        value = null;
        return false;
    }

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() =>
        _order.Select(n => new KeyValuePair<string, object?>(n, _values[n])).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc/>
    public override string ToString() => $"{Candidate}: {string.Join(", ", _order.Select(n => $"{n}={Format(n)}"))}";
}
