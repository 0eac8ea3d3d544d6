using MLNetLlmClassifier.Torch;
using TorchSharp;

namespace MLNetLlmClassifier.Tests.Torch;

[TestClass]
public class TorchDeviceTests
{
    [TestMethod]
    public void TorchInitialisesOnThisMachine()
    {
        // Fails with a TypeInitializationException where the GLIBCXX fix did not apply.
        using var a = torch.ones(2, 2);
        Assert.AreEqual(4f, a.sum().item<float>());
    }

    [TestMethod]
    [DataRow("auto")]
    [DataRow("cpu")]
    [DataRow("CUDA")]
    [DataRow("cuda:1")]
    public void ValidSpellingsAreAccepted(string d) => TorchDevice.Validate(d);

    [TestMethod]
    [DataRow("gpu")]
    [DataRow("cuda:")]
    [DataRow("cuda:-1")]
    [DataRow("mps")]
    public void InvalidSpellingsNameTheOption(string d)
    {
        var e = Assert.ThrowsExactly<ArgumentException>(() => TorchDevice.Validate(d, "Device"));
        StringAssert.Contains(e.Message, "Device");
        StringAssert.Contains(e.Message, d);
    }

    [TestMethod]
    public void CpuResolvesToCpu() => Assert.AreEqual(DeviceType.CPU, TorchDevice.Resolve("cpu").type);

    [TestMethod]
    public void CudaWithoutAGpuIsAnErrorNotAFallback()
    {
        if (torch.cuda.is_available()) Assert.Inconclusive("A GPU is present.");
        var e = Assert.ThrowsExactly<InvalidOperationException>(() => TorchDevice.Resolve("cuda"));
        StringAssert.Contains(e.Message, "CUDA is not available");
        Assert.AreEqual(DeviceType.CPU, TorchDevice.Resolve("auto").type);
    }
}
