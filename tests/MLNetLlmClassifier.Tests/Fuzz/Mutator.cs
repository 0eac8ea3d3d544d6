using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;

namespace MLNetLlmClassifier.Tests.Fuzz;

/// <summary>
/// Deterministic random mutations of a file's bytes (one seeded <see cref="Random"/> per case): bit flips, truncations,
/// splices (a run of the file copied over or into another place), inserted and deleted runs, numeric field edits (a number
/// in the text replaced by a boundary value: 0, -1, 2^31, 2^63, 1e309, NaN, ...; a 32- or 64-bit little-endian word set to
/// one), and JSON value swaps (a value replaced by null, [], {}, "", true). Each case applies 1 to 3 of them. Zip files can
/// also be mutated inside: one entry's decompressed bytes are mutated and the archive is rewritten with valid CRCs, so that
/// the mutation reaches the reader behind the zip layer.
/// </summary>
internal static partial class Mutator
{
    private static readonly string[] Numbers =
    [
        "0", "-1", "1", "2", "-0", "0.5", "3.0", "255", "65536", "2147483647", "2147483648", "-2147483648", "-2147483649",
        "4294967296", "9223372036854775807", "9223372036854775808", "18446744073709551616", "99999999999999999999999999",
        "1e308", "1e309", "-1e309", "1e-320", "NaN", "Infinity", "1.5", "-7", "1000000", "100000000",
    ];

    private static readonly long[] Words =
    [
        0, 1, -1, 2, 7, 8, 255, 256, 65535, 65536, int.MaxValue, int.MinValue, uint.MaxValue, long.MaxValue, long.MinValue,
        1L << 32, 1L << 40, 100L * 1024 * 1024, (100L * 1024 * 1024) + 1,
    ];

    private static readonly string[] JsonValues = ["null", "[]", "{}", "\"\"", "true", "\"x\"", "[1,2]", "{\"a\":1}", "-1", "1e999"];

    /// <summary>The names of the mutations, as <see cref="Mutate"/> reports them.</summary>
    internal static readonly string[] Kinds = ["bitflip", "truncate", "splice", "insert", "delete", "number", "word", "jsonvalue"];

    /// <summary>A mutated copy of <paramref name="input"/> and the mutations applied (e.g. "number+bitflip").</summary>
    internal static (byte[] Bytes, string Kinds) Mutate(byte[] input, Random rng, bool text)
    {
        var bytes = input.ToList();
        int count = 1 + rng.Next(3);
        var applied = new List<string>();
        for (int i = 0; i < count; i++)
        {
            // Text files get more number and JSON edits; binary files more word edits.
            string kind = text
                ? Pick(rng, ["bitflip", "truncate", "splice", "insert", "delete", "number", "number", "number", "jsonvalue", "jsonvalue"])
                : Pick(rng, ["bitflip", "bitflip", "truncate", "splice", "insert", "delete", "number", "word", "word", "jsonvalue"]);
            applied.Add(kind);
            Apply(kind, bytes, rng);
        }
        return (bytes.ToArray(), string.Join('+', applied));
    }

    private static T Pick<T>(Random rng, T[] items) => items[rng.Next(items.Length)];

    private static void Apply(string kind, List<byte> b, Random rng)
    {
        if (b.Count == 0)
        {
            b.AddRange(Encoding.ASCII.GetBytes(Pick(rng, Numbers)));
            return;
        }
        switch (kind)
        {
            case "bitflip":
                for (int n = 1 + rng.Next(8); n > 0; n--) b[rng.Next(b.Count)] ^= (byte)(1 << rng.Next(8));
                break;
            case "truncate":
                // Anywhere, but often near the end (a write cut short) or the start (a header cut short).
                TruncateAt(b, rng.Next(3) switch { 0 => rng.Next(Math.Min(b.Count, 64)), 1 => b.Count - 1 - rng.Next(Math.Min(b.Count, 64)), _ => rng.Next(b.Count) });
                break;
            case "splice":
                {
                    int from = rng.Next(b.Count), length = Math.Min(1 + rng.Next(64), b.Count - from), to = rng.Next(b.Count);
                    var run = b.GetRange(from, length);
                    if (rng.Next(2) == 0) b.InsertRange(to, run);
                    else for (int k = 0; k < run.Count && to + k < b.Count; k++) b[to + k] = run[k];
                    break;
                }
            case "insert":
                {
                    var run = new byte[1 + rng.Next(16)];
                    rng.NextBytes(run);
                    b.InsertRange(rng.Next(b.Count + 1), run);
                    break;
                }
            case "delete":
                {
                    int from = rng.Next(b.Count);
                    b.RemoveRange(from, Math.Min(1 + rng.Next(32), b.Count - from));
                    break;
                }
            case "number":
                ReplaceMatch(b, rng, NumberPattern(), () => Pick(rng, Numbers));
                break;
            case "jsonvalue":
                ReplaceMatch(b, rng, JsonScalarPattern(), () => Pick(rng, JsonValues));
                break;
            case "word":
                {
                    long value = Pick(rng, Words);
                    bool wide = rng.Next(2) == 0 || b.Count < 4;
                    // The first words of a binary file are usually lengths or counts: aim there half of the time.
                    int at = rng.Next(2) == 0 ? 0 : rng.Next(Math.Max(1, b.Count - 8)) & ~3;
                    var word = new byte[8];
                    BinaryPrimitives.WriteInt64LittleEndian(word, value);
                    for (int k = 0; k < (wide ? 8 : 4) && at + k < b.Count; k++) b[at + k] = word[k];
                    break;
                }
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }

    private static void TruncateAt(List<byte> b, int length)
    {
        if (length < b.Count) b.RemoveRange(length, b.Count - length);
    }

    /// <summary>Replaces one random match of <paramref name="pattern"/> in the bytes read as Latin-1 (so offsets are byte offsets).</summary>
    private static void ReplaceMatch(List<byte> b, Random rng, Regex pattern, Func<string> replacement)
    {
        string text = Encoding.Latin1.GetString(b.ToArray());
        var matches = pattern.Matches(text);
        if (matches.Count == 0)
        {
            b.InsertRange(rng.Next(b.Count + 1), Encoding.ASCII.GetBytes(replacement()));
            return;
        }
        var m = matches[rng.Next(matches.Count)];
        b.RemoveRange(m.Index, m.Length);
        b.InsertRange(m.Index, Encoding.ASCII.GetBytes(replacement()));
    }

    [GeneratedRegex(@"-?\d+(\.\d+)?([eE][+-]?\d+)?")]
    private static partial Regex NumberPattern();

    [GeneratedRegex(@"(?<=[:\[,]\s*)(""[^""\\]{0,40}""|-?\d[\d.eE+-]*|true|false|null)")]
    private static partial Regex JsonScalarPattern();

    /// <summary>The entries of a zip: name and decompressed bytes, in order.</summary>
    internal static List<(string Name, byte[] Bytes)> ReadZip(byte[] zip)
    {
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        var entries = new List<(string, byte[])>();
        foreach (var e in archive.Entries)
        {
            using var s = e.Open();
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            entries.Add((e.FullName, ms.ToArray()));
        }
        return entries;
    }

    /// <summary>The time stamp every entry written by <see cref="WriteZip"/> carries, so that the same entries give the same bytes.</summary>
    private static readonly DateTimeOffset EntryTime = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>A zip of these entries (valid CRCs and sizes), byte for byte the same for the same entries (fixed time stamps).</summary>
    internal static byte[] WriteZip(IEnumerable<(string Name, byte[] Bytes)> entries)
    {
        var ms = new MemoryStream();
        using (var archive = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var (name, bytes) in entries)
            {
                var entry = archive.CreateEntry(name, CompressionLevel.Fastest);
                entry.LastWriteTime = EntryTime;
                using var s = entry.Open();
                s.Write(bytes);
            }
        return ms.ToArray();
    }
}
