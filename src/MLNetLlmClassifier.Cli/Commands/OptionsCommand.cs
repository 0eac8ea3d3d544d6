using System.CommandLine;
using System.Text;
using MLNetLlmClassifier.Configuration;
using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.Cli.Commands;

/// <summary>
/// <c>mlnet-llm options</c>: the registered families and each one's options, as declared on its options class (name, type,
/// default, command-line shorthand, documentation): the names that <c>--set family.Option=value</c>, <c>--config</c> files and sweep
/// files take.
/// </summary>
internal static class OptionsCommand
{
    // The CLI's families (CliFamilies) are registered before anything here looks a family up.
    static OptionsCommand() => CliFamilies.EnsureRegistered();

    public static Command Create()
    {
        var family = new Option<string?>("--trainer") { Description = "Only this family (a name or alias). Default: every family." };
        var markdown = new Option<bool>("--markdown") { Description = "Print each family's options as a Markdown table (the tables of docs/options.md)." };
        var updateDocs = new Option<string?>("--update-docs") { Description = "Rewrite the generated tables of this Markdown file (docs/options.md) from the options classes." };
        var cmd = new Command("options", "List the model families and their options (names, defaults, flags, documentation).");
        cmd.Options.Add(family);
        cmd.Options.Add(markdown);
        cmd.Options.Add(updateDocs);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            var families = r.GetValue(family) is { } name ? [ClassifierFamilies.Get(name, "--trainer")] : ClassifierFamilies.All;
            if (r.GetValue(updateDocs) is { } path)
            {
                if (!File.Exists(path)) throw new FileNotFoundException($"--update-docs: '{path}' does not exist.", path);
                var text = File.ReadAllText(path);
                var updated = UpdateDocs(text, families, out var missing);
                if (missing.Count > 0)
                    throw new InvalidDataException($"--update-docs: {path} has no generated table for {string.Join(", ", missing)}: add a line {BeginMarker(missing[0])} followed by {EndMarker} where it belongs.");
                if (updated != text) IO.AtomicFile.WriteAllText(path, updated);
                Console.WriteLine(updated == text ? $"{path} is up to date." : $"Updated the option tables of {path}.");
                return 0;
            }
            Console.Write(r.GetValue(markdown) ? string.Concat(families.Select(f => $"### {f.Name}\n\n{MarkdownTable(f)}\n")) : Describe(families));
            return 0;
        }));
        return cmd;
    }

    /// <summary>First line of a generated table in a Markdown file, for the family <paramref name="family"/>.</summary>
    internal static string BeginMarker(string family) =>
        $"<!-- options:{family} (generated from the options class by `mlnet-llm options --update-docs docs/options.md`: do not edit by hand) -->";

    /// <summary>Line after a generated table.</summary>
    internal const string EndMarker = "<!-- /options -->";

    /// <summary>
    /// A Markdown table of the family's options as declared on its options class: name, flag, the family's default, and the
    /// documentation summary. docs/options.md holds one per family (a test checks that it is current).
    /// </summary>
    internal static string MarkdownTable(ClassifierFamily family)
    {
        var sb = new StringBuilder();
        sb.Append("| option | flag | default | meaning |\n| --- | --- | --- | --- |\n");
        foreach (var o in OptionCatalog.Describe(family.OptionsType))
        {
            string shown = o.Default switch
            {
                null => "null",
                string text => "\"" + text + "\"",
                _ => OptionsBinder.LabelOf(o.Default),
            };
            sb.Append($"| `{o.Name}` | {(o.Alias is null ? "" : $"`{o.Alias}`")} | `{Cell(shown)}` | {Cell(o.Summary ?? "")} |\n");
        }
        return sb.ToString();
    }

    private static string Cell(string text) => text.Replace("\r", "").Replace("\n", "\\n").Replace("|", "\\|");

    /// <summary>
    /// <paramref name="text"/> with the table between each family's <see cref="BeginMarker"/> and <see cref="EndMarker"/> regenerated;
    /// <paramref name="missing"/> lists the families that have no such place.
    /// </summary>
    internal static string UpdateDocs(string text, IEnumerable<ClassifierFamily> families, out List<string> missing)
    {
        missing = [];
        var nl = text.Contains("\r\n", StringComparison.Ordinal) ? "\r\n" : "\n";
        foreach (var f in families)
        {
            var begin = BeginMarker(f.Name);
            int start = text.IndexOf(begin, StringComparison.Ordinal);
            int end = start < 0 ? -1 : text.IndexOf(EndMarker, start, StringComparison.Ordinal);
            if (end < 0) { missing.Add(f.Name); continue; }
            int bodyStart = start + begin.Length;
            text = text[..bodyStart] + nl + MarkdownTable(f).Replace("\n", nl) + text[end..];
        }
        return text;
    }

    internal static string Describe(IEnumerable<ClassifierFamily> families)
    {
        var sb = new StringBuilder();
        foreach (var f in families)
        {
            sb.Append($"{f.Name}: {f.DisplayName}");
            if (f.Aliases.Count > 0) sb.Append($" (also: {string.Join(", ", f.Aliases)})");
            sb.AppendLine();
            foreach (var o in OptionCatalog.Describe(f.OptionsType))
            {
                var swept = f.DefaultSearchSpace.FirstOrDefault(s => s.Option == o.Name);
                sb.Append($"  {o.Name} = {OptionsBinder.LabelOf(o.Default)}");
                if (o.Alias is not null) sb.Append($"  [{o.Alias}]");
                if (swept is not null) sb.Append($"  (swept: {Range(swept)})");
                sb.AppendLine();
                if (o.Summary is not null) sb.AppendLine($"      {o.Summary}");
            }
            sb.AppendLine();
        }
        return sb.ToString();
    }

    private static string Range(SweepRange r) => r.Kind switch
    {
        SweepRangeKind.Choice => "{" + string.Join(", ", (r.Choices ?? []).Select(OptionsBinder.LabelOf)) + "}",
        SweepRangeKind.Integer => $"integer [{r.Min}, {r.Max}]",
        SweepRangeKind.LogUniform => $"log-uniform [{r.Min:G3}, {r.Max:G3}]",
        _ => $"uniform [{r.Min:G3}, {r.Max:G3}]",
    };
}
