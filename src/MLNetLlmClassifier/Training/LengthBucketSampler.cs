namespace MLNetLlmClassifier.Training;

/// <summary>
/// Forms batches of rows of similar length, so that dynamic padding (to the longest row of each
/// batch) wastes little compute. Training order: shuffle all rows, cut them into pools of
/// <see cref="PoolBatches"/> batches, sort each pool by length, cut it into batches, and shuffle
/// the batches. Evaluation order: all rows sorted by length, no randomness.
/// </summary>
internal static class LengthBucketSampler
{
    /// <summary>Batches per sorting pool: large enough to group lengths, small enough to keep randomness.</summary>
    public const int PoolBatches = 50;

    public static List<int[]> TrainingBatches(IReadOnlyList<int> lengths, int batchSize, Random rng)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        int n = lengths.Count;
        var order = Enumerable.Range(0, n).ToArray();
        rng.Shuffle(order);
        var batches = new List<int[]>((int)(((long)n + batchSize - 1) / batchSize));
        int pool = (int)Math.Min((long)batchSize * PoolBatches, int.MaxValue);
        for (int start = 0; start < n; start += pool)
        {
            var chunk = order.AsSpan(start, Math.Min(pool, n - start)).ToArray();
            // Stable sort so that equal lengths keep their shuffled order.
            var sorted = chunk.OrderBy(i => lengths[i]).ToArray();
            for (int b = 0; b < sorted.Length; b += batchSize)
                batches.Add(sorted.AsSpan(b, Math.Min(batchSize, sorted.Length - b)).ToArray());
        }
        var shuffled = batches.ToArray();
        rng.Shuffle(shuffled);
        return shuffled.ToList();
    }

    public static List<int[]> InferenceBatches(IReadOnlyList<int> lengths, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(lengths);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var sorted = Enumerable.Range(0, lengths.Count).OrderBy(i => lengths[i]).ToArray();
        var batches = new List<int[]>();
        for (int b = 0; b < sorted.Length; b += batchSize)
            batches.Add(sorted.AsSpan(b, Math.Min(batchSize, sorted.Length - b)).ToArray());
        return batches;
    }
}
