using MLNetLlmClassifier.Torch;
using TorchSharp;

namespace MLNetLlmClassifier.Tests.Torch;

[TestClass]
public class TorchDeviceTests
{
    [TestMethod]
    public void AutoPrecisionIsBf16OnlyOnACpuWithNativeBf16ForModelsAboveTheThreshold()
    {
        var bf16 = torch.ScalarType.BFloat16;
        var fp32 = torch.ScalarType.Float32;
        int min = TorchDevice.CpuBf16MinHiddenSize;
        Assert.AreEqual(bf16, TorchDevice.AutoDtype(torch.CPU, min, () => true));
        Assert.AreEqual(bf16, TorchDevice.AutoDtype(torch.CPU, 768, () => true));
        Assert.AreEqual(fp32, TorchDevice.AutoDtype(torch.CPU, min - 1, () => true), "small models compute faster in float32");
        Assert.AreEqual(fp32, TorchDevice.AutoDtype(torch.CPU, 64, () => true));
        Assert.AreEqual(fp32, TorchDevice.AutoDtype(torch.CPU, 768, () => false), "emulated bfloat16 is slow");
        Assert.AreEqual(fp32, TorchDevice.AutoDtype(torch.CPU, null, () => true), "unknown size: float32");

        Assert.IsTrue(TorchDevice.CpuFlagsHaveBf16("flags\t\t: fpu vme avx512f avx512_bf16 avx512_vnni"));
        Assert.IsTrue(TorchDevice.CpuFlagsHaveBf16("flags : fpu amx_bf16 amx_tile"));
        Assert.IsFalse(TorchDevice.CpuFlagsHaveBf16("flags : fpu avx512f avx512_vnni avx512_bf16x"));
        Assert.IsFalse(TorchDevice.CpuFlagsHaveBf16(null));
    }

    [TestMethod]
    public void TorchInitialisesOnThisMachine()
    {
        // Fails with a TypeInitializationException where the GLIBCXX fix did not apply.
        using var a = torch.ones(2, 2);
        Assert.AreEqual(4f, a.sum().item<float>());
    }

    /// <summary>
    /// An app that references the library project (no build fix) gets the GLIBCXX fix at run time: the patch marks TorchSharp's
    /// GLIBCXX_3.4.32 requirement weak in an unpatched libLibTorchSharp.so (the NuGet cache's copy, copied), once.
    /// </summary>
    [TestMethod]
    public void TheRunTimeFixWeakensTheGlibcxxRequirementOnce()
    {
        if (!OperatingSystem.IsLinux()) Assert.Inconclusive("libLibTorchSharp.so is a Linux library.");
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var original = Directory.Exists(Path.Combine(packages, "torchsharp"))
            ? Directory.GetFiles(Path.Combine(packages, "torchsharp"), "libLibTorchSharp.so", SearchOption.AllDirectories).FirstOrDefault(f => f.Contains("linux-x64", StringComparison.Ordinal))
            : null;
        if (original is null) Assert.Inconclusive($"No TorchSharp package in {packages}.");
        using var folder = new TempFolder();
        var copy = Path.Combine(folder.Path, "libLibTorchSharp.so");
        File.Copy(original, copy);
        Assert.IsTrue(TorchNativeFix.Weaken(copy), "the package's library should carry the strict GLIBCXX_3.4.32 requirement");
        Assert.IsFalse(TorchNativeFix.Weaken(copy), "the patch must be idempotent");
        Assert.AreEqual(new FileInfo(original).Length, new FileInfo(copy).Length);
        Assert.AreEqual(0, Directory.GetFiles(folder.Path, "*.tmp").Length);
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
