using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// One hyperparameter of a <see cref="SearchSpace"/>: a continuous range, an integer range or a choice.
/// Tuners work in the unit interval: every dimension maps a coordinate u in [0, 1) to a value
/// (<see cref="FromUnit"/>) and a value back to a coordinate (<see cref="ToUnit"/>), so that one tuner
/// serves every kind of dimension. A log-scale range is uniform in the logarithm of the value.
/// </summary>
public abstract class SearchDimension
{
    /// <summary>Creates a dimension.</summary>
    /// <param name="name">The option it sets: a public settable property or field of the trainer's options, or a dotted path (<c>Prompt.Instruction</c>).</param>
    protected SearchDimension(string name)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("A search dimension needs the name of the option it sets.", nameof(name));
        Name = name;
    }

    /// <summary>The option this dimension sets.</summary>
    public string Name { get; }

    /// <summary>Number of distinct values, or null for a continuous range.</summary>
    public abstract int? Cardinality { get; }

    /// <summary>True for an unordered choice (tuners model it by counts, not by distance).</summary>
    public virtual bool IsCategorical => false;

    /// <summary>The value at coordinate <paramref name="u"/> in [0, 1) (values outside are clamped).</summary>
    public abstract object? FromUnit(double u);

    /// <summary>The coordinate in [0, 1] of <paramref name="value"/> (the middle of its cell for discrete dimensions).</summary>
    public abstract double ToUnit(object? value);

    /// <summary>The values a grid search tries: all of them for a choice or a short integer range, else <paramref name="steps"/> evenly spaced ones.</summary>
    public abstract IReadOnlyList<object?> GridValues(int steps);

    /// <summary>The value as a JSON node (numbers stay numbers; choices of other types are written by label).</summary>
    internal abstract JsonNode? ToJson(object? value);

    /// <summary>Reads a value written by <see cref="ToJson"/>; a value this dimension cannot hold is an error naming it.</summary>
    internal abstract object? FromJson(JsonElement element);

    /// <summary>A JSON description used to tell whether a results file was written with the same space.</summary>
    internal abstract JsonObject Describe();

    /// <summary>Short human-readable description, e.g. <c>log-uniform [1E-05, 0.001]</c>.</summary>
    public abstract override string ToString();

    private protected InvalidDataException BadValue(JsonElement e) =>
        new($"The value {e.GetRawText()} of sweep parameter '{Name}' does not fit its search dimension ({this}).");

    private protected static string Num(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}

/// <summary>A continuous range of doubles, uniform or log-uniform.</summary>
public sealed class UniformDimension : SearchDimension
{
    /// <summary>Creates the range [min, max]; with <paramref name="logScale"/> both ends must be positive.</summary>
    public UniformDimension(string name, double min, double max, bool logScale = false) : base(name)
    {
        if (!double.IsFinite(min) || !double.IsFinite(max) || !(min < max))
            throw new ArgumentOutOfRangeException(nameof(min), $"Search dimension '{name}': the range [{min}, {max}] is invalid: give finite numbers with min < max.");
        if (logScale && min <= 0)
            throw new ArgumentOutOfRangeException(nameof(min), $"Search dimension '{name}': a log-scale range needs min > 0 (got {min}).");
        Min = min;
        Max = max;
        LogScale = logScale;
    }

    /// <summary>Lower end.</summary>
    public double Min { get; }
    /// <summary>Upper end.</summary>
    public double Max { get; }
    /// <summary>Uniform in log(value) rather than in value.</summary>
    public bool LogScale { get; }

    /// <inheritdoc/>
    public override int? Cardinality => null;

    private double T(double v) => LogScale ? Math.Log(v) : v;

    /// <inheritdoc/>
    public override object? FromUnit(double u)
    {
        u = Math.Clamp(u, 0, 1);
        double x = T(Min) + u * (T(Max) - T(Min));
        return Math.Clamp(LogScale ? Math.Exp(x) : x, Min, Max);
    }

    /// <inheritdoc/>
    public override double ToUnit(object? value)
    {
        double v = Math.Clamp(Convert.ToDouble(value, CultureInfo.InvariantCulture), Min, Max);
        return (T(v) - T(Min)) / (T(Max) - T(Min));
    }

    /// <inheritdoc/>
    public override IReadOnlyList<object?> GridValues(int steps) =>
        Enumerable.Range(0, Math.Max(2, steps)).Select(i => FromUnit((double)i / (Math.Max(2, steps) - 1))).ToArray();

    internal override JsonNode? ToJson(object? value) => JsonValue.Create(Convert.ToDouble(value, CultureInfo.InvariantCulture));

    internal override object? FromJson(JsonElement e) =>
        e.ValueKind == JsonValueKind.Number ? e.GetDouble() : throw BadValue(e);

    internal override JsonObject Describe() => new() { ["type"] = LogScale ? "logUniform" : "uniform", ["min"] = Min, ["max"] = Max };

    /// <inheritdoc/>
    public override string ToString() => $"{(LogScale ? "log-uniform" : "uniform")} [{Num(Min)}, {Num(Max)}]";
}

/// <summary>A range of integers [min, max], both ends included, uniform or log-uniform.</summary>
public sealed class IntegerDimension : SearchDimension
{
    /// <summary>Creates the range; with <paramref name="logScale"/> min must be at least 1.</summary>
    public IntegerDimension(string name, int min, int max, bool logScale = false) : base(name)
    {
        if (min > max)
            throw new ArgumentOutOfRangeException(nameof(min), $"Search dimension '{name}': the range [{min}, {max}] is invalid: give min <= max.");
        if (logScale && min < 1)
            throw new ArgumentOutOfRangeException(nameof(min), $"Search dimension '{name}': a log-scale integer range needs min >= 1 (got {min}).");
        Min = min;
        Max = max;
        LogScale = logScale;
    }

    /// <summary>Smallest value.</summary>
    public int Min { get; }
    /// <summary>Largest value (included).</summary>
    public int Max { get; }
    /// <summary>Uniform in log(value) rather than in value.</summary>
    public bool LogScale { get; }

    /// <inheritdoc/>
    public override int? Cardinality => Max - Min + 1;

    // The value v owns the cell [v, v + 1) of a continuous axis (in log space when LogScale), so every
    // integer of a linear range is equally likely and the cells of a log range shrink as values grow.
    private double T(double v) => LogScale ? Math.Log(v) : v;

    /// <inheritdoc/>
    public override object? FromUnit(double u)
    {
        u = Math.Clamp(u, 0, 1);
        double x = T(Min) + u * (T(Max + 1.0) - T(Min));
        double v = LogScale ? Math.Exp(x) : x;
        return (int)Math.Clamp(Math.Floor(v), Min, Max);
    }

    /// <inheritdoc/>
    public override double ToUnit(object? value)
    {
        int v = Math.Clamp(Convert.ToInt32(value, CultureInfo.InvariantCulture), Min, Max);
        return (T(v + 0.5) - T(Min)) / (T(Max + 1.0) - T(Min));
    }

    /// <inheritdoc/>
    public override IReadOnlyList<object?> GridValues(int steps)
    {
        if (Max - Min + 1 <= Math.Max(2, steps)) return Enumerable.Range(Min, Max - Min + 1).Cast<object?>().ToArray();
        int n = Math.Max(2, steps);
        return Enumerable.Range(0, n)
            .Select(i => (int)Math.Round(LogScale ? Math.Exp(T(Min) + i * (T(Max) - T(Min)) / (n - 1)) : Min + i * (double)(Max - Min) / (n - 1)))
            .Distinct().Cast<object?>().ToArray();
    }

    internal override JsonNode? ToJson(object? value) => JsonValue.Create(Convert.ToInt32(value, CultureInfo.InvariantCulture));

    internal override object? FromJson(JsonElement e) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) ? v : throw BadValue(e);

    internal override JsonObject Describe() => new() { ["type"] = LogScale ? "logInt" : "int", ["min"] = Min, ["max"] = Max };

    /// <inheritdoc/>
    public override string ToString() => $"{(LogScale ? "log-integer" : "integer")} [{Min}, {Max}]";
}

/// <summary>One value of a <see cref="ChoiceDimension"/> with the label that shows it in results files and leaderboards.</summary>
/// <param name="Label">Short unique name of the value (a long prompt or a dictionary reads better by name).</param>
/// <param name="Value">The value given to the option (any type the option accepts; may be null).</param>
public sealed record ChoiceOption(string Label, object? Value)
{
    /// <summary>The default label of a value: its invariant text, or compact JSON for collections and objects.</summary>
    public static string LabelOf(object? value) => Configuration.OptionsBinder.LabelOf(value);
}

/// <summary>An unordered choice among values of any type (batch sizes, schedules, prompt templates, label display names...).</summary>
public sealed class ChoiceDimension : SearchDimension
{
    /// <summary>Creates a choice; labels must be unique.</summary>
    public ChoiceDimension(string name, IEnumerable<ChoiceOption> options) : base(name)
    {
        Options = options?.ToArray() ?? throw new ArgumentNullException(nameof(options));
        if (Options.Count == 0) throw new ArgumentException($"Search dimension '{name}': a choice needs at least one value.", nameof(options));
        var dup = Options.GroupBy(o => o.Label, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null)
            throw new ArgumentException($"Search dimension '{name}': the label '{dup.Key}' is given to two values; give each value its own label (ChoiceOption).", nameof(options));
    }

    /// <summary>The values, in the order given.</summary>
    public IReadOnlyList<ChoiceOption> Options { get; }

    /// <inheritdoc/>
    public override int? Cardinality => Options.Count;

    /// <inheritdoc/>
    public override bool IsCategorical => true;

    /// <summary>The index of a value (by equality, then by label), or -1.</summary>
    public int IndexOf(object? value)
    {
        for (int i = 0; i < Options.Count; i++)
            if (Equals(Options[i].Value, value)) return i;
        string label = value as string ?? ChoiceOption.LabelOf(value);
        for (int i = 0; i < Options.Count; i++)
            if (Options[i].Label == label) return i;
        return -1;
    }

    /// <summary>The index at coordinate u.</summary>
    public int IndexAt(double u) => Math.Clamp((int)Math.Floor(Math.Clamp(u, 0, 1) * Options.Count), 0, Options.Count - 1);

    /// <inheritdoc/>
    public override object? FromUnit(double u) => Options[IndexAt(u)].Value;

    /// <inheritdoc/>
    public override double ToUnit(object? value) => (Math.Max(0, IndexOf(value)) + 0.5) / Options.Count;

    /// <inheritdoc/>
    public override IReadOnlyList<object?> GridValues(int steps) => Options.Select(o => o.Value).ToArray();

    /// <summary>The label of a value of this choice.</summary>
    public string LabelOf(object? value) => IndexOf(value) is >= 0 and var i ? Options[i].Label : ChoiceOption.LabelOf(value);

    internal override JsonNode? ToJson(object? value)
    {
        int i = IndexOf(value);
        if (i < 0) throw new ArgumentException($"Sweep parameter '{Name}': {ChoiceOption.LabelOf(value)} is not one of its choices.");
        var o = Options[i];
        // Numbers and booleans whose label is their own text stay JSON numbers/booleans; everything else is written by label.
        return o.Value switch
        {
            int v when o.Label == ChoiceOption.LabelOf(v) => JsonValue.Create(v),
            long v when o.Label == ChoiceOption.LabelOf(v) => JsonValue.Create(v),
            double v when o.Label == ChoiceOption.LabelOf(v) => JsonValue.Create(v),
            float v when o.Label == ChoiceOption.LabelOf(v) => JsonValue.Create(v),
            bool v when o.Label == ChoiceOption.LabelOf(v) => JsonValue.Create(v),
            _ => JsonValue.Create(o.Label),
        };
    }

    internal override object? FromJson(JsonElement e)
    {
        string label = e.ValueKind switch
        {
            JsonValueKind.String => e.GetString()!,
            JsonValueKind.True => "true",
            JsonValueKind.False => "false",
            JsonValueKind.Number => ChoiceOption.LabelOf(e.GetDouble()),
            _ => throw BadValue(e),
        };
        foreach (var o in Options)
        {
            if (o.Label == label) return o.Value;
            if (e.ValueKind == JsonValueKind.Number && o.Value is IConvertible c && o.Value is not string and not bool &&
                Convert.ToDouble(c, CultureInfo.InvariantCulture) == e.GetDouble())
                return o.Value;
        }
        throw BadValue(e);
    }

    internal override JsonObject Describe() => new() { ["type"] = "choice", ["labels"] = new JsonArray(Options.Select(o => (JsonNode?)JsonValue.Create(o.Label)).ToArray()) };

    /// <inheritdoc/>
    public override string ToString() => $"choice of {Options.Count}: {string.Join(", ", Options.Select(o => o.Label.Length > 24 ? o.Label[..21] + "..." : o.Label))}";
}
