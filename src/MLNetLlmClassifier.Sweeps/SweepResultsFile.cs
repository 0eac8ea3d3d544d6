using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// The results file of a sweep: JSON Lines, a header line describing the sweep (metric and each candidate's search
/// space) and then one line per finished trial, each written and flushed to disk as the trial ends. A sweep started on an
/// existing file resumes: its trials count as done and are never repeated. A last line cut short by a crash is dropped
/// (nothing before it is touched); a file written by a sweep with another metric or search space is refused, naming the difference.
/// </summary>
public sealed class SweepResultsFile : IDisposable
{
    private const int Version = 1;
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);
    private readonly FileStream _stream;

    private SweepResultsFile(string path, FileStream stream, int seed)
    {
        Path = path;
        _stream = stream;
        Seed = seed;
    }

    /// <summary>The file.</summary>
    public string Path { get; }

    /// <summary>The sweep's seed: the one given to <see cref="Open"/> for a new file, the stored one when resuming.</summary>
    public int Seed { get; }

    /// <summary>
    /// Opens (or creates) the results file of a sweep with these candidates and metric; <paramref name="finished"/> gets the trials it
    /// already holds. A new file stores <paramref name="seed"/>; an existing one keeps its own (see <see cref="Seed"/>). The file stays
    /// open (others may read it) until disposed.
    /// </summary>
    public static SweepResultsFile Open(string path, IReadOnlyList<SweepCandidateSpace> candidates, SweepMetric metric, bool maximize, int seed,
        Action<string>? log, out List<TrialRecord> finished)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string full = System.IO.Path.GetFullPath(path);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        var header = Header(candidates, metric, maximize, seed);
        var stream = new FileStream(full, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        try
        {
            finished = new List<TrialRecord>();
            if (stream.Length == 0)
            {
                WriteLine(stream, header);
            }
            else
            {
                var bytes = new byte[stream.Length];
                stream.ReadExactly(bytes);
                int end = Array.LastIndexOf(bytes, (byte)'\n') + 1;
                if (end < bytes.Length)
                {
                    // A crash while writing the last line leaves part of it: that trial was not finished, so drop it.
                    log?.Invoke($"The results file {full} ends with a partial line ({bytes.Length - end} bytes, from an interrupted write); it is dropped.");
                    stream.SetLength(end);
                }
                finished = Parse(Utf8.GetString(bytes, 0, end), full, candidates, header, out var stored);
                if (end == 0) WriteLine(stream, header);
                seed = stored ?? seed;
            }
            stream.Seek(0, SeekOrigin.End);
            return new SweepResultsFile(full, stream, seed);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads the finished trials of a results file (for reports), with the candidates' search spaces.</summary>
    public static List<TrialRecord> Read(string path, IReadOnlyList<SweepCandidateSpace> candidates)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(s, Utf8);
        string text = reader.ReadToEnd();
        int end = text.LastIndexOf('\n') + 1;
        return Parse(text[..end], path, candidates, expectedHeader: null, out _);
    }

    /// <summary>Appends a finished trial as one line and flushes it to disk.</summary>
    public void Append(TrialRecord record) => WriteLine(_stream, ToJson(record));

    /// <inheritdoc/>
    public void Dispose() => _stream.Dispose();

    private static void WriteLine(FileStream stream, JsonObject node)
    {
        var bytes = Utf8.GetBytes(node.ToJsonString() + "\n");
        stream.Write(bytes);
        stream.Flush(flushToDisk: true);
    }

    private static JsonObject Header(IReadOnlyList<SweepCandidateSpace> candidates, SweepMetric metric, bool maximize, int seed)
    {
        var spaces = new JsonObject();
        foreach (var c in candidates) spaces[c.Name] = c.Space.Describe();
        return new JsonObject
        {
            ["kind"] = "sweep",
            ["version"] = Version,
            ["metric"] = metric.ToString(),
            ["maximize"] = maximize,
            ["seed"] = seed,
            ["candidates"] = spaces,
        };
    }

    private static List<TrialRecord> Parse(string text, string path, IReadOnlyList<SweepCandidateSpace> candidates, JsonObject? expectedHeader, out int? seed)
    {
        seed = null;
        var trials = new List<TrialRecord>();
        var ids = new HashSet<int>();
        var lines = text.Split('\n');
        bool sawHeader = false;
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim().Length == 0) continue;
            JsonElement e;
            try { e = JsonDocument.Parse(lines[i]).RootElement; }
            catch (JsonException ex) { throw new InvalidDataException($"{path} line {i + 1} is not valid JSON ({IO.UntrustedText.OneLine(ex.Message)}).", ex); }
            string kind = e.ValueKind == JsonValueKind.Object && e.TryGetProperty("kind", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString()! : "";
            if (kind == "sweep")
            {
                sawHeader = true;
                if (e.TryGetProperty("seed", out var sd) && sd.ValueKind == JsonValueKind.Number && sd.TryGetInt32(out int sv)) seed = sv;
                if (expectedHeader is not null) CheckHeader(e, expectedHeader, path);
                continue;
            }
            if (kind != "trial") throw new InvalidDataException($"{path} line {i + 1} is neither a sweep header nor a trial.");
            if (!sawHeader) throw new InvalidDataException($"{path} line {i + 1}: a trial comes before the sweep header line.");
            var record = FromJson(e, candidates, path, i + 1);
            if (!ids.Add(record.TrialId)) throw new InvalidDataException($"{path} line {i + 1}: trial {record.TrialId} appears twice.");
            trials.Add(record);
        }
        return trials;
    }

    private static void CheckHeader(JsonElement e, JsonObject expected, string path)
    {
        string Of(JsonElement el, string name) => el.TryGetProperty(name, out var v) ? IO.UntrustedText.OneLine(v.GetRawText(), 300) : "(none)";
        var want = JsonDocument.Parse(expected.ToJsonString()).RootElement;
        if (Of(e, "metric") != Of(want, "metric"))
            throw new InvalidOperationException($"The results file {path} is of a sweep optimizing {Of(e, "metric")}, not {Of(want, "metric")}: " +
                "use another results file (output folder) for a sweep with another metric, or delete it to start over.");
        if (e.TryGetProperty("candidates", out var h) && h.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{path} line 1: the sweep header's 'candidates' is a JSON {h.ValueKind}, not an object.");
        var had = h.ValueKind == JsonValueKind.Object ? h.EnumerateObject().DistinctBy(p => p.Name).ToDictionary(p => p.Name, p => IO.UntrustedText.OneLine(p.Value.GetRawText(), 300)) : new();
        var now = want.GetProperty("candidates").EnumerateObject().ToDictionary(p => p.Name, p => IO.UntrustedText.OneLine(p.Value.GetRawText(), 300));
        foreach (var name in had.Keys.Union(now.Keys))
        {
            had.TryGetValue(name, out var a);
            now.TryGetValue(name, out var b);
            if (a != b)
                throw new InvalidOperationException($"The results file {path} was written by a sweep whose candidate '{name}' had the search space {a ?? "(none)"}; " +
                    $"this sweep's is {b ?? "(none)"}. Resuming needs the same candidates and spaces: use another results file (output folder) or delete it to start over.");
        }
    }

    private static JsonNode? Num(double? v) => v is { } d && double.IsFinite(d) ? JsonValue.Create(d) : null;

    private static double ReadNum(JsonElement e) => e.ValueKind == JsonValueKind.Number ? e.GetDouble() : double.NaN;

    internal static JsonObject ToJson(TrialRecord r)
    {
        var metrics = new JsonObject();
        foreach (var (name, v) in r.Metrics) metrics[name] = Num(v);
        return new JsonObject
        {
            ["kind"] = "trial",
            ["trialId"] = r.TrialId,
            ["candidate"] = r.Candidate,
            ["status"] = r.Status.ToString(),
            ["metric"] = Num(r.Metric),
            ["resource"] = Num(r.Resource),
            ["step"] = r.Step,
            ["seconds"] = Math.Round(r.Seconds, 3),
            ["startedUtc"] = r.StartedUtc.ToString("O", CultureInfo.InvariantCulture),
            ["error"] = r.Error,
            ["parameters"] = r.Parameters.ToJson(),
            ["metrics"] = metrics,
            ["reports"] = new JsonArray(r.Reports.Select(x => (JsonNode?)new JsonObject
            {
                ["resource"] = x.Resource,
                ["value"] = Num(x.Value),
                ["step"] = x.Step,
            }).ToArray()),
        };
    }

    private static TrialRecord FromJson(JsonElement e, IReadOnlyList<SweepCandidateSpace> candidates, string path, int line)
    {
        try
        {
            string name = e.GetProperty("candidate").GetString()!;
            var candidate = candidates.FirstOrDefault(c => c.Name == name)
                ?? throw new InvalidDataException($"trial of candidate '{name}', which this sweep does not have ({string.Join(", ", candidates.Select(c => c.Name))})");
            var metrics = new Dictionary<string, double>();
            if (e.TryGetProperty("metrics", out var m) && m.ValueKind == JsonValueKind.Object)
                foreach (var p in m.EnumerateObject()) metrics[p.Name] = ReadNum(p.Value);
            var reports = new List<IntermediateValue>();
            if (e.TryGetProperty("reports", out var rs) && rs.ValueKind == JsonValueKind.Array)
                foreach (var x in rs.EnumerateArray())
                    reports.Add(new IntermediateValue(x.GetProperty("resource").GetDouble(), ReadNum(x.GetProperty("value")),
                        x.TryGetProperty("step", out var st) && st.ValueKind == JsonValueKind.Number ? st.GetInt64() : 0));
            var metric = e.TryGetProperty("metric", out var mv) && mv.ValueKind == JsonValueKind.Number ? mv.GetDouble() : (double?)null;
            return new TrialRecord
            {
                TrialId = e.GetProperty("trialId").GetInt32(),
                Parameters = TrialParameters.FromJson(name, candidate.Space, e.GetProperty("parameters")),
                Status = Status(e.GetProperty("status").GetString()!),
                Metric = metric,
                Metrics = metrics,
                Reports = reports,
                Seconds = e.TryGetProperty("seconds", out var s) ? s.GetDouble() : 0,
                Error = e.TryGetProperty("error", out var er) && er.ValueKind == JsonValueKind.String ? er.GetString() : null,
                StartedUtc = e.TryGetProperty("startedUtc", out var su) && su.ValueKind == JsonValueKind.String
                    ? DateTimeOffset.Parse(su.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind) : default,
            };
        }
        catch (Exception ex) when (ex is KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException or InvalidDataException)
        {
            throw new InvalidDataException($"{path} line {line}: {IO.UntrustedText.OneLine(ex.Message)}", ex);
        }
    }

    /// <summary>A status by name (Enum.Parse would also take any number).</summary>
    private static TrialStatus Status(string name) =>
        Enum.GetNames<TrialStatus>().Contains(name, StringComparer.Ordinal) ? Enum.Parse<TrialStatus>(name)
            : throw new InvalidDataException($"status '{IO.UntrustedText.OneLine(name, 40)}' is none of {string.Join(", ", Enum.GetNames<TrialStatus>())}");
}
