using System.Diagnostics;
using System.Globalization;

namespace MLNetLlmClassifier.Torch;

/// <summary>
/// The process's resident memory and its peak, for measuring the memory of one phase (bench's train phase). On Linux the peak
/// (VmHWM) can be reset by writing 5 to /proc/self/clear_refs, so a phase's own peak is read; elsewhere the peak is the process's
/// since it started (<see cref="Process.PeakWorkingSet64"/>).
/// </summary>
internal static class ProcessMemory
{
    /// <summary>Resets the peak to the current resident size; false where the platform cannot (the peak then covers the whole process).</summary>
    public static bool ResetPeak()
    {
        try
        {
            if (!OperatingSystem.IsLinux() || !File.Exists("/proc/self/clear_refs")) return false;
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Resident bytes now (VmRSS on Linux, the working set elsewhere).</summary>
    public static long ResidentBytes() => Status("VmRSS:") ?? Process.GetCurrentProcess().WorkingSet64;

    /// <summary>Peak resident bytes since the last <see cref="ResetPeak"/> (VmHWM on Linux), or since the process started.</summary>
    public static long PeakResidentBytes() => Status("VmHWM:") ?? Process.GetCurrentProcess().PeakWorkingSet64;

    // A "Key:   1234 kB" line of /proc/self/status, in bytes.
    private static long? Status(string key)
    {
        try
        {
            if (!OperatingSystem.IsLinux()) return null;
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
            var parts = line?.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return parts is { Length: >= 2 } && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out long kb) ? kb * 1024 : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
