namespace MLNetLlmClassifier.Sweeps;

/// <summary>A candidate (trainer) of a sweep and the space its hyperparameters are searched in.</summary>
/// <param name="Name">Unique name, e.g. "bert" (shown in results and leaderboards).</param>
/// <param name="Space">Its search space.</param>
public sealed record SweepCandidateSpace(string Name, SearchSpace Space);

/// <summary>What a tuner sees when asked for the next trial.</summary>
public sealed class TunerContext
{
    /// <summary>The candidates of the sweep and their spaces.</summary>
    public required IReadOnlyList<SweepCandidateSpace> Candidates { get; init; }

    /// <summary>Every finished trial so far (this session's and, when resuming, the results file's), in trial order.</summary>
    public required IReadOnlyList<TrialRecord> History { get; init; }

    /// <summary>Whether the metric is maximized (use <see cref="TrialRecord.Score"/>).</summary>
    public required bool Maximize { get; init; }

    /// <summary>The id of the trial to propose.</summary>
    public required int TrialId { get; init; }

    /// <summary>0 on the first request for this trial; higher when the earlier proposal repeated a finished trial.</summary>
    public int Attempt { get; init; }
}

/// <summary>
/// Proposes the hyperparameters of the next trial. Tuners here are functions of their seed, the trial id and the
/// history: they keep no hidden state, so a sweep resumed from its results file proposes exactly what the
/// uninterrupted sweep would have (given the same finished trials).
/// </summary>
public interface ITuner
{
    /// <summary>The next trial's parameters, or null when the space is exhausted (grid search).</summary>
    TrialParameters? Propose(TunerContext context);
}

/// <summary>Deterministic random streams for tuners: one per (seed, trial, attempt), independent of what ran before.</summary>
internal static class SweepRandom
{
    public static Random For(int seed, int trialId, int attempt, int stream = 0)
    {
        ulong x = (ulong)(uint)seed;
        x = Mix(x ^ Mix((ulong)(uint)trialId + 0x9E3779B97F4A7C15UL));
        x = Mix(x ^ Mix((ulong)(uint)attempt * 0xBF58476D1CE4E5B9UL + 1));
        x = Mix(x ^ (ulong)(uint)stream);
        return new Random((int)(x & 0x7FFFFFFF));
    }

    // SplitMix64 finaliser.
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Parameters of <paramref name="candidate"/> from unit coordinates, one per dimension.</summary>
    public static TrialParameters FromUnits(SweepCandidateSpace candidate, IReadOnlyList<double> units) =>
        new(candidate.Name, candidate.Space,
            candidate.Space.Select((d, i) => (d.Name, d.FromUnit(units[i]))).ToDictionary(p => p.Name, p => p.Item2));
}

/// <summary>Uniform random search: a candidate at random, then every dimension uniform in its (log) range. Seeded.</summary>
public sealed class RandomTuner : ITuner
{
    /// <summary>Creates the tuner.</summary>
    public RandomTuner(int seed = 0) => Seed = seed;

    /// <summary>The seed.</summary>
    public int Seed { get; }

    /// <inheritdoc/>
    public TrialParameters? Propose(TunerContext context) =>
        Sample(SweepRandom.For(Seed, context.TrialId, context.Attempt), context.Candidates);

    internal static TrialParameters Sample(Random rng, IReadOnlyList<SweepCandidateSpace> candidates)
    {
        var c = candidates[rng.Next(candidates.Count)];
        return SweepRandom.FromUnits(c, c.Space.Select(_ => rng.NextDouble()).ToArray());
    }
}

/// <summary>
/// Grid search: every combination of each choice's values, each short integer range's values, and
/// <see cref="Steps"/> evenly spaced values (log-spaced for log ranges) of each continuous range, over all candidates.
/// The order is a seeded shuffle by default, so that a budget smaller than the grid still spreads over the space
/// (ML.NET AutoML's grid goes in order, which under a budget only ever varies the last dimension); set
/// <see cref="Shuffle"/> to false for lexicographic order. Returns null once every point has run.
/// </summary>
public sealed class GridTuner : ITuner
{
    /// <summary>The largest grid this tuner enumerates.</summary>
    public const long MaxPoints = 1_000_000;

    private readonly object _lock = new();
    private IReadOnlyList<SweepCandidateSpace>? _cachedFor;
    private List<(SweepCandidateSpace Candidate, long Index)>? _order;

    /// <summary>Creates the tuner.</summary>
    public GridTuner(int steps = 5, bool shuffle = true, int seed = 0)
    {
        if (steps < 2) throw new ArgumentOutOfRangeException(nameof(steps), steps, "A grid needs at least 2 values per continuous dimension.");
        Steps = steps;
        Shuffle = shuffle;
        Seed = seed;
    }

    /// <summary>Values per continuous dimension (and per long integer range).</summary>
    public int Steps { get; }
    /// <summary>Whether the grid is visited in a seeded random order.</summary>
    public bool Shuffle { get; }
    /// <summary>The seed of the shuffle.</summary>
    public int Seed { get; }

    /// <inheritdoc/>
    public TrialParameters? Propose(TunerContext context)
    {
        var order = Order(context.Candidates);
        var done = context.History.Select(r => r.Parameters.Key).ToHashSet(StringComparer.Ordinal);
        foreach (var (candidate, index) in order)
        {
            var p = Point(candidate, index);
            if (!done.Contains(p.Key)) return p;
        }
        return null;
    }

    private List<(SweepCandidateSpace, long)> Order(IReadOnlyList<SweepCandidateSpace> candidates)
    {
        lock (_lock)
        {
            if (_order is not null && ReferenceEquals(_cachedFor, candidates)) return _order;
            long total = 0;
            foreach (var c in candidates)
            {
                long size = c.Space.GridSize(Steps);
                total += size;
                if (total > MaxPoints)
                    throw new InvalidOperationException($"The grid has more than {MaxPoints} points ({c.Name}: {size}); use fewer steps, fewer dimensions, or the random or TPE tuner.");
            }
            var order = candidates.SelectMany(c => LongRange(c.Space.GridSize(Steps)).Select(i => (c, i))).ToList();
            if (Shuffle)
            {
                var rng = new Random(Seed);
                for (int i = order.Count - 1; i > 0; i--)
                {
                    int j = rng.Next(i + 1);
                    (order[i], order[j]) = (order[j], order[i]);
                }
            }
            _cachedFor = candidates;
            return _order = order;
        }
    }

    private static IEnumerable<long> LongRange(long n)
    {
        for (long i = 0; i < n; i++) yield return i;
    }

    // Mixed-radix decoding of a grid index: the last dimension varies fastest.
    private TrialParameters Point(SweepCandidateSpace c, long index)
    {
        var values = new Dictionary<string, object?>();
        for (int d = c.Space.Count - 1; d >= 0; d--)
        {
            var grid = c.Space[d].GridValues(Steps);
            values[c.Space[d].Name] = grid[(int)(index % grid.Count)];
            index /= grid.Count;
        }
        return new TrialParameters(c.Name, c.Space, values);
    }
}
