using System.Text.RegularExpressions;
using MLNetLlmClassifier.Configuration;
using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.Tests.Docs;

[TestClass]
public class ReadmeTests
{
    /// <summary>The README's C# program is samples/QuickStart/Program.cs, which samples/run-all.sh compiles and runs: they must not drift apart.</summary>
    [TestMethod]
    public void ReadmeQuotesTheQuickStartSampleVerbatim()
    {
        string readme = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "README.md")).Replace("\r\n", "\n");
        string program = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "samples", "QuickStart", "Program.cs")).Replace("\r\n", "\n");
        const string marker = "<!-- quoted from samples/QuickStart/Program.cs -->\n```csharp\n";
        int start = readme.IndexOf(marker, StringComparison.Ordinal);
        Assert.IsTrue(start >= 0, "README.md has no block quoted from samples/QuickStart/Program.cs");
        start += marker.Length;
        int end = readme.IndexOf("```\n", start, StringComparison.Ordinal);
        Assert.AreEqual(program, readme[start..end], "README.md's C# block differs from samples/QuickStart/Program.cs: copy the file into the README.");
    }

    /// <summary>
    /// The README's command table has a row for every command of mlnet-llm, and each row names every option of its command, except the
    /// option flags derived from [CommandLineAlias] (one sentence and <c>mlnet-llm options</c> cover those) and --help/--verbose.
    /// </summary>
    [TestMethod]
    public void ReadmeCommandTableListsEveryCommandAndOption()
    {
        var root = MLNetLlmClassifier.Cli.Program.Build();
        var flags = ClassifierFamilies.All.SelectMany(f => OptionCatalog.Describe(f.OptionsType)).Select(o => o.Alias).OfType<string>().ToHashSet();
        var readme = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "README.md"));
        var missing = new List<string>();
        foreach (var command in root.Subcommands)
        {
            // A command may have several rows (e.g. predict one text / predict a file): together they must name every option.
            var rows = readme.Where(l => l.StartsWith($"| `{command.Name} ", StringComparison.Ordinal) || l.StartsWith($"| `{command.Name}`", StringComparison.Ordinal)).ToList();
            if (rows.Count == 0) { missing.Add($"command {command.Name}"); continue; }
            string row = string.Join("\n", rows);
            foreach (var option in command.Options)
            {
                if (option.Name is "--help" or "--version" or "--verbose" || flags.Contains(option.Name)) continue;
                if (!Regex.IsMatch(row, Regex.Escape(option.Name) + @"(?![a-z0-9-])"))
                    missing.Add($"{command.Name} {option.Name}");
            }
        }
        Assert.AreEqual(0, missing.Count, "README.md's command table lacks: " + string.Join(", ", missing));
    }
}
