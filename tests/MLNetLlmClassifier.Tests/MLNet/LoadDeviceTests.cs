using Microsoft.ML;
using MLNetLlmClassifier.Bert;

namespace MLNetLlmClassifier.Tests.MLNet;

/// <summary>Where a loaded model runs: MLContext.GpuDeviceId and FallbackToCpu, as ML.NET's own TorchSharp trainers read them, or a given device.</summary>
[TestClass]
public class LoadDeviceTests
{
    [TestMethod]
    public void LoadingHonoursGpuDeviceIdFallbackToCpuAndAGivenDevice()
    {
        using var temp = new TempFolder();
        var zip = temp.File("model.zip");
        HostileModelZipTests.SaveTinyModel(temp, zip);   // a tiny BERT trained on the CPU

        if (!TorchSharp.torch.cuda.is_available())
        {
            // A GPU asked for where there is none: an error that says what to do, unless falling back to the CPU is allowed.
            var strict = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = false }.RegisterMLNetLlmClassifier();
            var e = Assert.Throws<Exception>(() => strict.Model.Load(zip, out _));
            StringAssert.Contains(Flatten(e), "FallbackToCpu");
            var lenient = new MLContext(seed: 1) { GpuDeviceId = 0, FallbackToCpu = true }.RegisterMLNetLlmClassifier();
            using (lenient.Model.Load(zip, out _) as IDisposable) { }
        }

        // A device given at registration wins over the context's settings.
        var given = new MLContext(seed: 1) { GpuDeviceId = 3, FallbackToCpu = false }.RegisterMLNetLlmClassifier(loadDevice: "cpu");
        var loaded = given.Model.Load(zip, out _);
        using (loaded as IDisposable)
            Assert.AreEqual("cpu", ((IEnumerable<ITransformer>)loaded).OfType<TextClassifierTransformer>().Single().Device);
        Assert.ThrowsExactly<ArgumentException>(() => new MLContext().RegisterMLNetLlmClassifier(loadDevice: "tpu"));
    }

    private static string Flatten(Exception e) => e.InnerException is null ? e.Message : e.Message + " | " + Flatten(e.InnerException);
}
