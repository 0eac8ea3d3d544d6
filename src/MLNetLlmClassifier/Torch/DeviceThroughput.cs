using System.Diagnostics;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Torch;

/// <summary>
/// Measures what a device can do, so that a model's achieved FLOP/s can be given as a fraction of it: that
/// fraction travels between machines, where absolute rows/s do not.
/// </summary>
public static class DeviceThroughput
{
    /// <summary>
    /// Matrix-multiply rate in FLOP/s: square matmuls of <paramref name="size"/> (2·n³ FLOPs each) repeated for about
    /// <paramref name="seconds"/>, after a warm-up, in <paramref name="dtype"/> on <paramref name="device"/>.
    /// </summary>
    public static double MatmulFlops(Device device, ScalarType dtype, int size = 1024, double seconds = 1.0)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var gen = new Generator(1, device);
        var a = randn(new long[] { size, size }, dtype: ScalarType.Float32, device: device, generator: gen).to(dtype);
        var b = randn(new long[] { size, size }, dtype: ScalarType.Float32, device: device, generator: gen).to(dtype);
        var c = a.matmul(b); // warm-up: kernel selection, allocation
        Synchronize(device);
        int runs = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds || runs < 3)
        {
            using var step = NewDisposeScope();
            a.matmul(b);
            runs++;
            if (device.type == DeviceType.CUDA && runs % 10 == 0) Synchronize(device);
        }
        Synchronize(device);
        return 2.0 * size * (double)size * size * runs / sw.Elapsed.TotalSeconds;
    }

    private static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) torch.cuda.synchronize(device);
    }

    /// <summary>
    /// Parameters that take part in matrix multiplies for every token: the 2-D weights of the module except
    /// embedding tables (names containing "embed"). Forward FLOPs per token ≈ 2 × this (attention's T² term and
    /// element-wise work are left out, so achieved FLOP/s are a slight underestimate).
    /// </summary>
    public static long MatmulParameters(nn.Module module) =>
        module.named_parameters().Where(p => p.parameter.dim() == 2 && !p.name.Contains("embed", StringComparison.OrdinalIgnoreCase))
            .Sum(p => p.parameter.numel());
}
