using System.Diagnostics;
using System.Globalization;
using Microsoft.ML;
using MLNetLlmClassifier.MLNet;
using BertRow = MLNetLlmClassifier.Tests.Bert.BertTrainerTests.Row;

namespace MLNetLlmClassifier.Tests.MLNet;

/// <summary>
/// A model.zip loads in a plain <c>new MLContext()</c>, with no RegisterMLNetLlmClassifier() call (issue 12, item 9): the build weaves a
/// loader attribute that ML.NET's own Model.Load registers (build/LoaderRegistrationWeaver.targets).
/// </summary>
[TestClass]
public class AutomaticRegistrationTests
{
    public const string ScoreCommand = "score-without-registration";

    private static readonly string[] Texts = ["stocks rally as profits rise", "the team won the final", ""];

    private static TempFolder _temp = null!;
    private static string _zip = "";

    [ClassInitialize]
    public static void Init(TestContext _)
    {
        _temp = new TempFolder();
        _zip = _temp.File("model.zip");
        HostileModelZipTests.SaveTinyModel(_temp, _zip);
    }

    [ClassCleanup]
    public static void Cleanup() => _temp.Dispose();

    /// <summary>Scores <paramref name="texts"/> with a model loaded by <paramref name="ml"/>, one line of scores per text.</summary>
    private static List<string> Score(MLContext ml, string zip, IEnumerable<string> texts)
    {
        var model = ml.Model.Load(zip, out _);
        using (model as IDisposable)
        {
            var engine = ml.Model.CreatePredictionEngine<BertRow, HostileModelZipTests.Prediction>(model);
            return texts.Select(t => string.Join(" ", engine.Predict(new BertRow { Label = "C0", Sentence1 = t }).Score
                .Select(s => s.ToString("F6", CultureInfo.InvariantCulture)))).ToList();
        }
    }

    /// <summary>Child-process side of <see cref="AModelLoadsInAFreshProcessWithoutRegistration"/>: nothing of ours runs before the load.</summary>
    public static int ScoreWithoutRegistration(string zip, string[] texts)
    {
        foreach (var line in Score(new MLContext(seed: 1), zip, texts))
            Console.WriteLine(line);
        return 0;
    }

    [TestMethod]
    public void TheBuildWoveOneLoaderAttributePerBuiltInFormat()
    {
        CollectionAssert.AreEquivalent(MLNetLlmClassifierRegistration.BuiltInLoaderSignatures.ToArray(),
            AutomaticRegistration.WovenLoaderSignatures.Split(','), "AutomaticRegistration.WovenLoaderSignatures must list every built-in format");
        var woven = typeof(AutomaticRegistration).Assembly.GetCustomAttributesData()
            .Where(a => a.AttributeType.FullName == "MLNetLlmClassifier.MLNet.LoaderRegistrationAttribute")
            .Select(a => (string)a.ConstructorArguments[0].Value!).ToArray();
        CollectionAssert.AreEquivalent(AutomaticRegistration.WovenLoaderSignatures.Split(','), woven, "the weaver did not run on this build");
    }

    [TestMethod]
    public void AModelLoadsInAFreshProcessWithoutRegistration()
    {
        var expected = Score(new MLContext(seed: 1).RegisterMLNetLlmClassifier(loadDevice: "cpu"), _zip, Texts);
        string dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
        var start = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(typeof(AutomaticRegistrationTests).Assembly.Location);
        start.ArgumentList.Add(ScoreCommand);
        start.ArgumentList.Add(_zip);
        foreach (var t in Texts) start.ArgumentList.Add(t);
        using var child = Process.Start(start)!;
        var stderr = child.StandardError.ReadToEndAsync();
        string stdout = child.StandardOutput.ReadToEnd();
        Assert.IsTrue(child.WaitForExit(120_000), "child process did not finish");
        Assert.AreEqual(0, child.ExitCode, $"loading without registration failed in a fresh process: {stdout}\n{stderr.Result}");
        CollectionAssert.AreEqual(expected, stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    [TestMethod]
    public void RegisteringBeforeOrAfterAnAutomaticLoadIsHarmless()
    {
        // Load first (ML.NET registers the woven loader), then register: no "already mapped" error, and the model still loads.
        var ml = new MLContext(seed: 1);
        var first = Score(ml, _zip, Texts);
        ml.RegisterMLNetLlmClassifier();
        CollectionAssert.AreEqual(first, Score(ml, _zip, Texts));
        // Register first, then load twice.
        var other = new MLContext(seed: 1).RegisterMLNetLlmClassifier();
        CollectionAssert.AreEqual(first, Score(other, _zip, Texts));
        CollectionAssert.AreEqual(first, Score(other, _zip, Texts));
    }
}
