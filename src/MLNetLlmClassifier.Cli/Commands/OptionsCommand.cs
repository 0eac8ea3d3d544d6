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
        var cmd = new Command("options", "List the model families and their options (names, defaults, flags, documentation).");
        cmd.Options.Add(family);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            var families = r.GetValue(family) is { } name ? [ClassifierFamilies.Get(name, "--trainer")] : ClassifierFamilies.All;
            Console.Write(Describe(families));
            return 0;
        }));
        return cmd;
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
