using System.Collections;
using System.Reflection;
using System.Text.Json.Nodes;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// The hyperparameters one trainer is swept over. Each dimension names an option of the trainer's options
/// class (a public settable property or field, or a dotted path); a trial's values are set on a copy of the
/// options by <see cref="Configuration.OptionsBinder"/>. Build it fluently, from attributes (<see cref="FromAttributes{T}"/>), or start
/// from <see cref="DefaultSearchSpaces"/>.
/// </summary>
/// <example>
/// <code>
/// var space = new SearchSpace()
///     .AddLogUniform("LearningRate", 1e-5, 1e-3)
///     .AddChoice("BatchSize", 16, 32, 64)
///     .AddInteger("NumberOfEpochs", 1, 4)
///     .AddUniform("WarmupRatio", 0, 0.2);
/// </code>
/// </example>
public sealed class SearchSpace : IReadOnlyList<SearchDimension>
{
    private readonly List<SearchDimension> _dimensions = new();

    /// <summary>An empty space (a trainer with no free hyperparameter gets one trial).</summary>
    public SearchSpace() { }

    /// <summary>A space of the given dimensions.</summary>
    public SearchSpace(IEnumerable<SearchDimension> dimensions)
    {
        foreach (var d in dimensions) Add(d);
    }

    /// <summary>Adds a dimension; a second dimension of the same name is an error.</summary>
    public SearchSpace Add(SearchDimension dimension)
    {
        ArgumentNullException.ThrowIfNull(dimension);
        if (_dimensions.Any(d => string.Equals(d.Name, dimension.Name, StringComparison.OrdinalIgnoreCase)))
            throw new ArgumentException($"The search space already has a dimension '{dimension.Name}'.", nameof(dimension));
        _dimensions.Add(dimension);
        return this;
    }

    /// <summary>Replaces the dimension of the same name (or adds it): to change one range of a default space.</summary>
    public SearchSpace Set(SearchDimension dimension)
    {
        ArgumentNullException.ThrowIfNull(dimension);
        int i = _dimensions.FindIndex(d => string.Equals(d.Name, dimension.Name, StringComparison.OrdinalIgnoreCase));
        if (i >= 0) _dimensions[i] = dimension;
        else _dimensions.Add(dimension);
        return this;
    }

    /// <summary>Removes a dimension (the option then keeps the value of the base options).</summary>
    public SearchSpace Remove(string name)
    {
        _dimensions.RemoveAll(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase));
        return this;
    }

    /// <summary>Adds a uniform range of doubles [min, max].</summary>
    public SearchSpace AddUniform(string name, double min, double max) => Add(new UniformDimension(name, min, max));

    /// <summary>Adds a log-uniform range of doubles [min, max], min &gt; 0 (learning rates, weight decay).</summary>
    public SearchSpace AddLogUniform(string name, double min, double max) => Add(new UniformDimension(name, min, max, logScale: true));

    /// <summary>Adds a range of integers [min, max], both included.</summary>
    public SearchSpace AddInteger(string name, int min, int max, bool logScale = false) => Add(new IntegerDimension(name, min, max, logScale));

    /// <summary>
    /// Adds a choice among values. Values may be of any type the option accepts (null included); pass
    /// <see cref="ChoiceOption"/>s to name long values: <c>AddChoice("PromptTemplate", new ChoiceOption("short", "..."), ...)</c>.
    /// </summary>
    public SearchSpace AddChoice<T>(string name, params T[] values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return Add(new ChoiceDimension(name, values.Select(v => v as ChoiceOption ?? new ChoiceOption(ChoiceOption.LabelOf(v), v))));
    }

    /// <summary>Adds a choice between false and true.</summary>
    public SearchSpace AddBoolean(string name) => AddChoice(name, false, true);

    /// <summary>The dimension of that name (case-insensitive), or null.</summary>
    public SearchDimension? Find(string name) =>
        _dimensions.FirstOrDefault(d => d.Name == name) ?? _dimensions.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The dimension of that name; an unknown name is an error listing the dimensions.</summary>
    public SearchDimension this[string name] => Find(name)
        ?? throw new KeyNotFoundException($"The search space has no dimension '{name}' (it has: {string.Join(", ", _dimensions.Select(d => d.Name))}).");

    /// <inheritdoc/>
    public SearchDimension this[int index] => _dimensions[index];

    /// <inheritdoc/>
    public int Count => _dimensions.Count;

    /// <summary>Number of points of a grid with <paramref name="steps"/> values per continuous dimension.</summary>
    public long GridSize(int steps) => _dimensions.Aggregate(1L, (n, d) => checked(n * d.GridValues(steps).Count));

    /// <summary>A copy that can be changed without changing this one.</summary>
    public SearchSpace Clone() => new(_dimensions);

    /// <summary>
    /// A space from the <see cref="RangeAttribute"/>, <see cref="ChoiceAttribute"/> and <see cref="BooleanChoiceAttribute"/>
    /// on the public properties and fields of <typeparamref name="T"/>; each member's name is the option it sets.
    /// A floating-point member gets a continuous range, an integer member an integer range.
    /// </summary>
    /// <example>
    /// <code>
    /// public sealed class MyBertSpace
    /// {
    ///     [Range(1e-5, 1e-3, logBase: true)] public double LearningRate { get; set; }
    ///     [Choice(16, 32, 64)] public int BatchSize { get; set; }
    ///     [Range(1, 4)] public double NumberOfEpochs { get; set; }
    /// }
    /// var space = SearchSpace.FromAttributes&lt;MyBertSpace&gt;();
    /// </code>
    /// </example>
    public static SearchSpace FromAttributes<T>() => FromAttributes(typeof(T));

    /// <inheritdoc cref="FromAttributes{T}"/>
    public static SearchSpace FromAttributes(Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        var space = new SearchSpace();
        // Properties, then fields, each in declaration order (metadata order).
        var members = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(m => m.MetadataToken).Cast<MemberInfo>()
            .Concat(type.GetFields(BindingFlags.Public | BindingFlags.Instance).OrderBy(m => m.MetadataToken));
        foreach (var m in members)
        {
            var memberType = m is PropertyInfo p ? p.PropertyType : ((FieldInfo)m).FieldType;
            memberType = Nullable.GetUnderlyingType(memberType) ?? memberType;
            if (m.GetCustomAttribute<RangeAttribute>() is { } r) space.Add(r.ToDimension(m.Name, memberType));
            else if (m.GetCustomAttribute<ChoiceAttribute>() is { } c) space.AddChoice(m.Name, c.Candidates);
            else if (m.GetCustomAttribute<BooleanChoiceAttribute>() is not null) space.AddBoolean(m.Name);
        }
        if (space.Count == 0)
            throw new ArgumentException($"{type.Name} has no public property or field with a [Range], [Choice] or [BooleanChoice] attribute.", nameof(type));
        return space;
    }

    /// <summary>A JSON description of every dimension (the results file keeps it to refuse resuming a different sweep).</summary>
    internal JsonObject Describe()
    {
        var o = new JsonObject();
        foreach (var d in _dimensions) o[d.Name] = d.Describe();
        return o;
    }

    /// <inheritdoc/>
    public IEnumerator<SearchDimension> GetEnumerator() => _dimensions.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc/>
    public override string ToString() => string.Join("; ", _dimensions.Select(d => $"{d.Name}: {d}"));
}

/// <summary>Declares a numeric search range on a member of a search-space class (see <see cref="SearchSpace.FromAttributes{T}"/>).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class RangeAttribute : Attribute
{
    private readonly double _min, _max;
    private readonly bool _integerBounds;

    /// <summary>A range of doubles [min, max]; <paramref name="logBase"/> makes it log-uniform.</summary>
    public RangeAttribute(double min, double max, bool logBase = false) => (_min, _max, LogBase) = (min, max, logBase);

    /// <summary>A range of integers [min, max]; <paramref name="logBase"/> makes it log-uniform.</summary>
    public RangeAttribute(int min, int max, bool logBase = false) => (_min, _max, LogBase, _integerBounds) = (min, max, logBase, true);

    /// <summary>Lower end.</summary>
    public double Min => _min;
    /// <summary>Upper end.</summary>
    public double Max => _max;
    /// <summary>Log-uniform rather than uniform.</summary>
    public bool LogBase { get; }

    internal SearchDimension ToDimension(string name, Type memberType)
    {
        bool integerMember = memberType == typeof(int) || memberType == typeof(long) || memberType == typeof(short) || memberType == typeof(uint);
        if (!integerMember) return new UniformDimension(name, _min, _max, LogBase);
        if (!_integerBounds && (_min != Math.Floor(_min) || _max != Math.Floor(_max)))
            throw new ArgumentException($"[Range({_min}, {_max})] on the integer member '{name}' needs integer bounds.");
        return new IntegerDimension(name, (int)_min, (int)_max, LogBase);
    }
}

/// <summary>Declares a choice among values on a member of a search-space class (see <see cref="SearchSpace.FromAttributes{T}"/>).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ChoiceAttribute : Attribute
{
    /// <summary>The values (constants: numbers, strings, enum values, booleans).</summary>
    public ChoiceAttribute(params object[] candidates) => Candidates = candidates ?? throw new ArgumentNullException(nameof(candidates));

    /// <summary>The values.</summary>
    public object[] Candidates { get; }
}

/// <summary>Declares a choice between false and true on a member of a search-space class.</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class BooleanChoiceAttribute : Attribute
{
}
