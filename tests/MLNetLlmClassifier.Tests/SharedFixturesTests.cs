using System.Security.Cryptography;

namespace MLNetLlmClassifier.Tests;

/// <summary>
/// The ../shared files the tests read are pinned by sha256 (issue 11): tests/MLNetLlmClassifier.Tests/shared-fixtures.sha256
/// lists them. A changed or missing fixture fails here with one clear message, instead of somewhere as a parity or tokenizer
/// test whose expectations were computed from the old file.
/// </summary>
[TestClass]
public class SharedFixturesTests
{
    private static string Manifest => Path.Combine(TestPaths.RepoRoot, "tests", "MLNetLlmClassifier.Tests", "shared-fixtures.sha256");

    /// <summary>The manifest's entries: expected sha256 and path relative to ../shared.</summary>
    internal static List<(string Sha256, string Path)> Entries() =>
        File.ReadAllLines(Manifest)
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split("  ", 2))
            .Select(p => (p[0], p[1]))
            .ToList();

    /// <summary>What is wrong with the fixtures, one line each (empty when all match).</summary>
    internal static List<string> Problems(string sharedRoot, IEnumerable<(string Sha256, string Path)> entries)
    {
        var problems = new List<string>();
        foreach (var (expected, relative) in entries)
        {
            string path = Path.Combine(sharedRoot, relative);
            if (!File.Exists(path))
            {
                problems.Add($"../shared/{relative} is missing");
                continue;
            }
            using var stream = File.OpenRead(path);
            string actual = Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant();
            if (actual != expected)
                problems.Add($"../shared/{relative} changed: its sha256 is {actual}, the manifest pins {expected}");
        }
        return problems;
    }

    [TestMethod]
    public void TheSharedFixturesAreTheOnesTheTestsWereWrittenFor()
    {
        var entries = Entries();
        Assert.IsGreaterThanOrEqualTo(15, entries.Count, "the manifest lists the fixtures");
        var problems = Problems(TestPaths.Shared(), entries);
        Assert.IsEmpty(problems,
            $"{problems.Count} shared fixture(s) differ from {Manifest}: {string.Join("; ", problems)}. The tests that read them " +
            "were written for the pinned files: restore ../shared, or, if the change is intended, check those tests and regenerate " +
            "the manifest with the command at its top.");
    }

    [TestMethod]
    public void AChangedFixtureIsNamedWithBothHashes()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir.File("a.txt"), "changed");
        var problems = Problems(dir.Path, [(new string('0', 64), "a.txt"), (new string('0', 64), "gone.txt")]);
        Assert.HasCount(2, problems);
        StringAssert.StartsWith(problems[0], "../shared/a.txt changed: its sha256 is ");
        StringAssert.Contains(problems[0], $"the manifest pins {new string('0', 64)}");
        Assert.AreEqual("../shared/gone.txt is missing", problems[1]);
    }
}
