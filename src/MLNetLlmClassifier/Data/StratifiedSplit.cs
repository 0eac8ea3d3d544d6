namespace MLNetLlmClassifier.Data;

/// <summary>Train/validation/test parts of a table.</summary>
/// <param name="Train">Training rows.</param>
/// <param name="Valid">Validation rows (empty when its fraction is 0).</param>
/// <param name="Test">Test rows (empty when its fraction is 0).</param>
public sealed record TrainValidTest(TextClassificationTable Train, TextClassificationTable Valid, TextClassificationTable Test);

/// <summary>
/// Stratified splitting and subsampling: every class is shuffled on its own (seeded) and divided in the
/// requested proportions, so each part keeps the class balance of the whole.
/// </summary>
/// <remarks>
/// <para><b>Determinism.</b> The shuffle uses this library's own SplitMix64 generator (not <see cref="Random"/>,
/// whose sequence may change between .NET versions), seeded with <c>seed</c> and drawn class by class in order of
/// first appearance. The same table, fractions and seed always give the same parts, on every platform.</para>
/// <para><b>Counts.</b> A class of n rows gets floor(n·f) rows per part, and the left-over rows go to the parts
/// with the largest fractional remainders (ties: earlier part first). Then, when the class has at least as many
/// rows as there are parts with a non-zero fraction, each such part that got none takes one row from the
/// largest part, so every class appears in every part.</para>
/// <para><b>Order.</b> Rows in each part keep their order in the input table (shuffle the training data
/// in the trainer, not here).</para>
/// </remarks>
public static class StratifiedSplit
{
    /// <summary>Splits into train, validation and test parts (fractions must sum to 1; a fraction may be 0).</summary>
    /// <exception cref="ArgumentException">A fraction is negative or not finite, or they do not sum to 1.</exception>
    public static TrainValidTest Split(TextClassificationTable table, double train, double valid, double test, int seed)
    {
        var parts = Split(table, [train, valid, test], seed);
        return new TrainValidTest(parts[0], parts[1], parts[2]);
    }

    /// <summary>Splits into as many parts as there are fractions (which must sum to 1; a fraction may be 0).</summary>
    /// <exception cref="ArgumentException">No fractions, a fraction negative or not finite, or they do not sum to 1.</exception>
    public static IReadOnlyList<TextClassificationTable> Split(TextClassificationTable table, IReadOnlyList<double> fractions, int seed)
    {
        ArgumentNullException.ThrowIfNull(table);
        ValidateFractions(fractions);
        double sum = fractions.Sum();
        fractions = fractions.Select(f => f / sum).ToArray(); // exactly 1, so the counts never exceed a class
        var parts = fractions.Select(_ => new List<int>()).ToArray();
        var rng = new SplitMix64(seed);
        foreach (var indices in IndicesByClass(table.Select(r => r.Label).ToArray()))
        {
            rng.Shuffle(indices);
            int[] counts = Apportion(indices.Count, fractions);
            int start = 0;
            for (int p = 0; p < parts.Length; p++)
            {
                parts[p].AddRange(indices.GetRange(start, counts[p]));
                start += counts[p];
            }
        }
        return parts.Select((p, i) => Take(table, p, $"{table.Source} [part {i + 1} of {parts.Length}]")).ToArray();
    }

    /// <summary>
    /// A stratified subsample with at most <paramref name="rowsPerClass"/> rows of each class (all rows of a smaller
    /// class), in input order.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rowsPerClass"/> is not positive.</exception>
    public static TextClassificationTable Sample(TextClassificationTable table, int rowsPerClass, int seed)
    {
        ArgumentNullException.ThrowIfNull(table);
        var chosen = SampleIndices(table.Select(r => r.Label).ToArray(), rowsPerClass, seed);
        return Take(table, chosen, $"{table.Source} [sample {rowsPerClass}/class]");
    }

    /// <summary>
    /// A stratified subsample of exactly <paramref name="totalRows"/> rows, each class keeping its proportion
    /// (largest-remainder rounding, as in <see cref="Split(TextClassificationTable, IReadOnlyList{double}, int)"/>), in input order.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="totalRows"/> is not positive or exceeds the table.</exception>
    public static TextClassificationTable SampleTotal(TextClassificationTable table, int totalRows, int seed)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (totalRows <= 0 || totalRows > table.Count)
            throw new ArgumentOutOfRangeException(nameof(totalRows), totalRows, $"must be between 1 and the table's {table.Count} rows.");
        double f = (double)totalRows / table.Count;
        // A two-part split whose first part has the requested size in total: apportion per class, then fix the
        // total (per-class rounding may be off by up to the number of classes) by moving rows between parts.
        var groups = IndicesByClass(table.Select(r => r.Label).ToArray());
        var rng = new SplitMix64(seed);
        var exact = groups.Select(g => g.Count * f).ToArray();
        var take = exact.Select(e => (int)Math.Floor(e)).ToArray();
        int missing = totalRows - take.Sum();
        foreach (int g in Enumerable.Range(0, groups.Count).OrderByDescending(g => exact[g] - take[g]).ThenBy(g => g).Take(missing))
            take[g]++;
        var chosen = new List<int>(totalRows);
        for (int g = 0; g < groups.Count; g++)
        {
            rng.Shuffle(groups[g]);
            chosen.AddRange(groups[g].GetRange(0, take[g]));
        }
        return Take(table, chosen, $"{table.Source} [sample {totalRows} rows]");
    }

    /// <summary>
    /// Row indexes of a stratified subsample: for each label (in order of first appearance) the labels' indexes
    /// are shuffled with one SplitMix64 stream seeded by <paramref name="seed"/> and the first
    /// <paramref name="rowsPerClass"/> kept. Returned in increasing order.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="rowsPerClass"/> is not positive.</exception>
    public static IReadOnlyList<int> SampleIndices(IReadOnlyList<string> labels, int rowsPerClass, int seed)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (rowsPerClass <= 0)
            throw new ArgumentOutOfRangeException(nameof(rowsPerClass), rowsPerClass, "must be positive.");
        var rng = new SplitMix64(seed);
        var chosen = new List<int>();
        foreach (var indices in IndicesByClass(labels))
        {
            rng.Shuffle(indices);
            chosen.AddRange(indices.GetRange(0, Math.Min(rowsPerClass, indices.Count)));
        }
        chosen.Sort();
        return chosen;
    }

    /// <summary>Rows per part for a class of <paramref name="n"/> rows (see the class remarks).</summary>
    internal static int[] Apportion(int n, IReadOnlyList<double> fractions)
    {
        int k = fractions.Count;
        var exact = fractions.Select(f => n * f).ToArray();
        var counts = exact.Select(e => (int)Math.Floor(e + 1e-9)).ToArray();
        int left = n - counts.Sum();
        foreach (int p in Enumerable.Range(0, k).OrderByDescending(p => exact[p] - counts[p]).ThenBy(p => p).Take(Math.Max(0, left)))
            counts[p]++;
        // Every part with a non-zero fraction gets at least one row when there are enough rows.
        var wanted = Enumerable.Range(0, k).Where(p => fractions[p] > 0).ToArray();
        if (n >= wanted.Length)
        {
            foreach (int p in wanted.Where(p => counts[p] == 0))
            {
                int donor = wanted.OrderByDescending(q => counts[q]).ThenBy(q => q).First();
                counts[donor]--;
                counts[p]++;
            }
        }
        return counts;
    }

    private static void ValidateFractions(IReadOnlyList<double> fractions)
    {
        ArgumentNullException.ThrowIfNull(fractions);
        if (fractions.Count == 0)
            throw new ArgumentException("give at least one fraction.", nameof(fractions));
        for (int i = 0; i < fractions.Count; i++)
            if (!double.IsFinite(fractions[i]) || fractions[i] < 0)
                throw new ArgumentException($"fraction {i + 1} = {fractions[i]} must be a finite number >= 0.", nameof(fractions));
        double sum = fractions.Sum();
        if (Math.Abs(sum - 1) > 1e-6)
            throw new ArgumentException($"the fractions ({string.Join(", ", fractions)}) sum to {sum}, not 1.", nameof(fractions));
    }

    /// <summary>Row indexes grouped by label, groups in order of first appearance, indexes increasing.</summary>
    private static List<List<int>> IndicesByClass(IReadOnlyList<string> labels)
    {
        var groups = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var ordered = new List<List<int>>();
        for (int i = 0; i < labels.Count; i++)
        {
            if (!groups.TryGetValue(labels[i], out var list))
            {
                groups[labels[i]] = list = [];
                ordered.Add(list);
            }
            list.Add(i);
        }
        return ordered;
    }

    /// <summary>The rows at <paramref name="indices"/>, in input order.</summary>
    private static TextClassificationTable Take(TextClassificationTable table, IEnumerable<int> indices, string source) =>
        new(indices.Order().Select(i => table[i]), source);
}

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed 64-bit generator with a fixed, documented sequence,
/// so seeded splits are reproducible on every .NET version.
/// </summary>
internal struct SplitMix64(long seed)
{
    private ulong _state = unchecked((ulong)seed);

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform integer in [0, bound) by rejection (no modulo bias).</summary>
    public int NextInt(int bound)
    {
        ulong b = (ulong)bound;
        ulong limit = ulong.MaxValue - ulong.MaxValue % b;
        ulong x;
        do x = NextUInt64(); while (x >= limit);
        return (int)(x % b);
    }

    /// <summary>Fisher–Yates shuffle in place.</summary>
    public void Shuffle<T>(IList<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
