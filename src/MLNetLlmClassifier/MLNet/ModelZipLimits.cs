using System.Globalization;

namespace MLNetLlmClassifier.MLNet;

/// <summary>One entry of a model zip as its central directory declares it.</summary>
/// <param name="FullName">The entry's path in the zip.</param>
/// <param name="StreamName">Its name inside the transformer's directory, or null for an entry of another directory.</param>
/// <param name="Length">Declared uncompressed length (what extraction writes; .NET's zip reader stops there).</param>
/// <param name="CompressedLength">Stored length.</param>
internal sealed record ModelZipEntry(string FullName, string? StreamName, long Length, long CompressedLength);

/// <summary>
/// Limits on the streams of one of our transformers in a model zip, checked on the declared sizes before anything is
/// extracted (ML.NET writes each entry to a temp file in full when it is opened, and our loader copies it once more), so
/// that a zip bomb (a small file declaring gigabytes) fails in milliseconds instead of filling the disk.
/// </summary>
/// <remarks>
/// The limits, and why:
/// <list type="bullet">
/// <item><see cref="MaxTotalBytes"/> = 64 GiB: the streams of one transformer together; a 16-billion-parameter float32
/// model, far above what this library trains.</item>
/// <item><see cref="MaxExpansion"/> = 8 and <see cref="ExpansionSlackBytes"/> = 64 MiB: the streams of one transformer may
/// expand to at most 8 × their compressed size plus 64 MiB. Weights barely compress (float32 about 1.1×, bfloat16 about
/// 1.3×); text files (vocab.txt, tokenizer.json, 1 to 11 MB) compress 3 to 4× and fit in the slack; 8× leaves room for
/// sparse weights. A zip bomb expands about 1000×.</item>
/// <item>The stream count is bounded by the loader (1,024 streams, 256 files in our header).</item>
/// </list>
/// The copy into the loader's temp folder also counts bytes and stops at the declared length
/// (<see cref="CopyBounded"/>), in case an entry holds more than it declares.
/// </remarks>
internal static class ModelZipLimits
{
    /// <summary>Most bytes the streams of one transformer may declare in total.</summary>
    internal const long MaxTotalBytes = 64L << 30;

    /// <summary>Most a transformer's streams may expand over their compressed size (see the remarks of the class).</summary>
    internal const double MaxExpansion = 8.0;

    /// <summary>Expansion allowed on top of <see cref="MaxExpansion"/>.</summary>
    internal const long ExpansionSlackBytes = 64L << 20;

    /// <summary>
    /// Checks the declared sizes of <paramref name="streamNames"/> in <paramref name="entries"/>.
    /// </summary>
    /// <exception cref="InvalidDataException">One line naming the model directory, the entry and the limit.</exception>
    internal static void Check(string directory, string loaderSignature, IReadOnlyList<string> streamNames, IReadOnlyList<ModelZipEntry> entries)
    {
        var wanted = new HashSet<string>(streamNames, StringComparer.OrdinalIgnoreCase);
        var mine = entries.Where(e => e.StreamName is not null && wanted.Contains(e.StreamName)).ToList();
        long total = 0, compressed = 0;
        foreach (var e in mine)
        {
            if (e.Length < 0 || e.CompressedLength < 0)
                throw new InvalidDataException($"Model directory '{directory}' ({loaderSignature}): zip entry '{e.FullName}' declares a negative size.");
            if (e.Length > MaxTotalBytes)
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"Model directory '{directory}' ({loaderSignature}): zip entry '{e.FullName}' declares {e.Length} bytes, more than the limit of {MaxTotalBytes} bytes (64 GiB); nothing was extracted."));
            total += e.Length;
            compressed += e.CompressedLength;
        }
        if (total > MaxTotalBytes)
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"Model directory '{directory}' ({loaderSignature}): its zip entries declare {total} bytes together, more than the limit of {MaxTotalBytes} bytes (64 GiB); nothing was extracted."));
        double allowed = MaxExpansion * compressed + ExpansionSlackBytes;
        if (total > allowed)
        {
            var worst = mine.MaxBy(e => e.Length - e.CompressedLength)!;
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"Model directory '{directory}' ({loaderSignature}) looks like a zip bomb: its entries declare {total} bytes from {compressed} compressed (limit {MaxExpansion} × compressed + {ExpansionSlackBytes} bytes), the largest '{worst.FullName}' {worst.Length} bytes from {worst.CompressedLength}; nothing was extracted."));
        }
    }

    /// <summary>Copies at most <paramref name="limit"/> bytes; more fails naming <paramref name="what"/> (the stream holds more than it declares).</summary>
    /// <exception cref="InvalidDataException">The source has more than <paramref name="limit"/> bytes.</exception>
    internal static long CopyBounded(Stream source, Stream destination, long limit, string what)
    {
        var buffer = new byte[1 << 16];
        long copied = 0;
        int n;
        while ((n = source.Read(buffer, 0, buffer.Length)) > 0)
        {
            copied += n;
            if (copied > limit)
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture, $"{what} holds more than the {limit} bytes it declares; extraction stopped."));
            destination.Write(buffer, 0, n);
        }
        return copied;
    }
}
