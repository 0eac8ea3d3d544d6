using System.Diagnostics;
using Microsoft.ML;
using MLNetLlmClassifier.Families;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.MLNet;

/// <summary>A classifier with a NaN or infinite weight is refused on load, naming the tensor (issue 11: "NaN/Inf weights load silently").</summary>
[TestClass]
public class NonFiniteWeightsTests
{
    private const string Tensor = "bert.encoder.layer.1.attention.self.query.weight";

    private static void SetOne(TextClassifierTransformer t, string name, float value)
    {
        using var noGrad = no_grad();
        var p = t.Model.Module.named_parameters().Single(n => n.name == name).parameter;
        using var row = p[0];
        using var cell = row[3];
        cell.fill_(value);
    }

    [TestMethod]
    [DataRow(float.NaN, "1 NaN and 0 infinite")]
    [DataRow(float.PositiveInfinity, "0 NaN and 1 infinite")]
    public void AModelZipWithANonFiniteWeightIsRefused(float value, string counts)
    {
        using var temp = new TempFolder();
        var zip = temp.File("model.zip");
        var folder = temp.File("folder");
        HostileModelZipTests.SaveTinyModel(temp, zip, t =>
        {
            SetOne(t, Tensor, value);
            t.Model.SaveModelFolder(folder);
        });

        var ml = new MLContext(seed: 1).RegisterMLNetLlmClassifier(loadDevice: "cpu");
        var watch = Stopwatch.StartNew();
        var e = HostileModelZipTests.Innermost(Assert.Throws<Exception>(() => (ml.Model.Load(zip, out _) as IDisposable)?.Dispose()));
        Console.WriteLine($"{watch.Elapsed.TotalMilliseconds:F0} ms: {e.GetType().Name}: {e.Message}");
        Assert.IsInstanceOfType<InvalidDataException>(e, e.ToString());
        Assert.DoesNotContain("\n", e.Message);
        StringAssert.Contains(e.Message, "Model directory 'TransformerChain/");
        StringAssert.Contains(e.Message, $"'{Tensor}'");
        StringAssert.Contains(e.Message, counts);

        // The folder path (ClassifierFamilies.LoadClassifier) names the weights file.
        e = Assert.ThrowsExactly<InvalidDataException>(() => ClassifierFamilies.LoadClassifier(folder, CPU).Dispose());
        StringAssert.Contains(e.Message, Path.Combine(folder, "model.safetensors"));
        StringAssert.Contains(e.Message, $"'{Tensor}'");
    }
}
