using System.Globalization;
using System.Text;

namespace MLNetLlmClassifier.Text;

/// <summary>
/// Unicode canonical normalisation (NFC, NFD) done here rather than with <see cref="string.Normalize(NormalizationForm)"/>:
/// under .NET's globalization-invariant mode (<c>InvariantGlobalization</c>, chiseled/Alpine containers) string.Normalize
/// silently returns its input, which would change token ids (Qwen3 declares NFC; BERT uses NFC and, to strip accents, NFD).
/// The data (UnicodeNormalizationData.txt, embedded) is generated from Python's unicodedata by
/// tools/generate_unicode_normalization_data.py; Hangul syllables are decomposed and composed algorithmically.
/// Algorithm: UAX #15 (full canonical decomposition, canonical ordering, canonical composition).
/// </summary>
internal static class UnicodeNormalization
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Lazy<Tables> Data = new(Tables.Load);

    /// <summary>Canonical composition (NFC).</summary>
    public static string Nfc(string s)
    {
        // Below U+0300 every character is a starter that is already composed and composes with nothing before it.
        if (AllBelow(s, 0x300)) return s;
        var cps = Decompose(s);
        Compose(cps);
        return ToString(cps);
    }

    /// <summary>Canonical decomposition (NFD).</summary>
    public static string Nfd(string s) => AllBelow(s, 0xC0) ? s : ToString(Decompose(s));

    private static bool AllBelow(string s, int limit)
    {
        foreach (char c in s)
            if (c >= limit) return false;
        return true;
    }

    private static List<int> Decompose(string s)
    {
        var t = Data.Value;
        var cps = new List<int>(s.Length + 8);
        for (int i = 0; i < s.Length; i++)
        {
            int cp = s[i];
            // A lone surrogate is kept as it is (as Python keeps it), a pair becomes its code point.
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) cp = char.ConvertToUtf32(s[i], s[++i]);
            if (cp - SBase is >= 0 and < SCount)
            {
                int index = cp - SBase;
                cps.Add(LBase + index / NCount);
                cps.Add(VBase + index % NCount / TCount);
                if (index % TCount != 0) cps.Add(TBase + index % TCount);
            }
            else if (t.FullDecomposition.TryGetValue(cp, out int[]? d)) cps.AddRange(d);
            else cps.Add(cp);
        }
        // Canonical ordering: stable sort of each run of non-starters by combining class (insertion sort; runs are short).
        for (int i = 1; i < cps.Count; i++)
        {
            int c = t.CombiningClass(cps[i]);
            if (c == 0) continue;
            int j = i;
            while (j > 0 && t.CombiningClass(cps[j - 1]) > c)
            {
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
                j--;
            }
        }
        return cps;
    }

    private static void Compose(List<int> cps)
    {
        if (cps.Count == 0) return;
        var t = Data.Value;
        int starterPos = 0;
        int lastClass = t.CombiningClass(cps[0]);
        if (lastClass != 0) lastClass = 256; // a leading non-starter: nothing composes with it
        int write = 1;
        for (int read = 1; read < cps.Count; read++)
        {
            int cp = cps[read];
            int cls = t.CombiningClass(cp);
            // cp may join the last starter unless blocked: something between them with class 0 or >= cls.
            if ((lastClass < cls || lastClass == 0) && TryCompose(t, cps[starterPos], cp, out int composite))
            {
                cps[starterPos] = composite;
                continue;
            }
            if (cls == 0) starterPos = write;
            lastClass = cls;
            cps[write++] = cp;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    private static bool TryCompose(Tables t, int first, int second, out int composite)
    {
        if (first - LBase is >= 0 and < LCount && second - VBase is >= 0 and < VCount)
        {
            composite = SBase + ((first - LBase) * VCount + (second - VBase)) * TCount;
            return true;
        }
        if (first - SBase is >= 0 and < SCount && (first - SBase) % TCount == 0 && second - TBase is > 0 and < TCount)
        {
            composite = first + (second - TBase);
            return true;
        }
        return t.Compositions.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private static string ToString(List<int> cps)
    {
        var sb = new StringBuilder(cps.Count);
        foreach (int cp in cps)
        {
            if (cp is >= 0xD800 and <= 0xDFFF) sb.Append((char)cp); // lone surrogate kept
            else sb.Append(char.ConvertFromUtf32(cp));
        }
        return sb.ToString();
    }

    private sealed class Tables
    {
        public Dictionary<int, int[]> FullDecomposition { get; } = new();
        public Dictionary<long, int> Compositions { get; } = new();
        private readonly Dictionary<int, byte> _combiningClass = new();

        public int CombiningClass(int cp) => cp < 0x300 ? 0 : _combiningClass.GetValueOrDefault(cp);

        public static Tables Load()
        {
            const string name = "MLNetLlmClassifier.Text.UnicodeNormalizationData.txt";
            using Stream stream = typeof(UnicodeNormalization).Assembly.GetManifestResourceStream(name)
                ?? throw new InvalidOperationException($"Embedded resource '{name}' is missing from the MLNetLlmClassifier assembly.");
            using var reader = new StreamReader(stream);
            var t = new Tables();
            var oneLevel = new Dictionary<int, int[]>();
            var excluded = new HashSet<int>();
            static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            for (string? line = reader.ReadLine(); line is not null; line = reader.ReadLine())
            {
                if (line.Length == 0 || line[0] == '#') continue;
                string[] f = line.Split(' ');
                switch (f[0])
                {
                    case "D": oneLevel[Hex(f[1])] = f.Skip(2).Select(Hex).ToArray(); break;
                    case "X": excluded.Add(Hex(f[1])); break;
                    case "C":
                        for (int cp = Hex(f[1]); cp <= Hex(f[2]); cp++) t._combiningClass[cp] = byte.Parse(f[3], CultureInfo.InvariantCulture);
                        break;
                }
            }
            foreach (var (cp, d) in oneLevel)
            {
                t.FullDecomposition[cp] = d.SelectMany(c => Expand(c, oneLevel)).ToArray();
                if (d.Length == 2 && !excluded.Contains(cp)) t.Compositions[((long)d[0] << 21) | (uint)d[1]] = cp;
            }
            return t;
        }

        private static IEnumerable<int> Expand(int cp, Dictionary<int, int[]> oneLevel) =>
            oneLevel.TryGetValue(cp, out int[]? d) ? d.SelectMany(c => Expand(c, oneLevel)) : [cp];
    }
}
