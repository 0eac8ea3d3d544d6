using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using MLNetLlmClassifier.Cli.Commands;
using MLNetLlmClassifier.Hub;
using MLNetLlmClassifier.Tests.MLNet;

namespace MLNetLlmClassifier.Tests.Cli;

/// <summary>
/// The CLI's one error boundary: any failure is one line "error: ..." and exit code 1 (130 when cancelled); the stack
/// trace only with --verbose or MLNETLLM_VERBOSE=1 (issue 11, item 4 of the list, item 3 of the hardening brief).
/// </summary>
[TestClass]
[DoNotParallelize]
public class CliErrorBoundaryTests
{
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
    public static void Cleanup() => _temp?.Dispose();

    private static string[] Lines(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static void AssertOneErrorLine(int code, string output, params string[] expected)
    {
        Console.WriteLine($"exit {code}: {output.TrimEnd()}");
        Assert.AreEqual(1, code, output);
        var lines = Lines(output);
        Assert.HasCount(1, lines, output);
        StringAssert.StartsWith(lines[0], "error: ", output);
        foreach (var e in expected) StringAssert.Contains(lines[0], e, output);
    }

    [TestMethod]
    public void PredictOnATamperedModelZipPrintsOneErrorLine()
    {
        var tampered = HostileModelZipTests.Tampered(_zip, "cli-batch0", (l, b) => HostileModelZipTests.WriteInt(b, l.BatchSizeOffset, 0));
        var (code, output) = CliTests.Run("predict", "--model", tampered, "--text", "a b c");
        AssertOneErrorLine(code, output, tampered, "batchSize");
    }

    [TestMethod]
    public void PredictOnAZipThatIsNotAModelPrintsOneErrorLine()
    {
        var garbage = _temp.File("garbage.zip");
        File.WriteAllBytes(garbage, [.. "PK\u0003\u0004"u8, .. new byte[200]]);
        var (code, output) = CliTests.Run("predict", "--model", garbage, "--text", "a b c");
        AssertOneErrorLine(code, output, garbage);
    }

    [TestMethod]
    public void PredictOnAnotherProgramsZipSaysItIsNotAnMlNetModel()
    {
        var other = _temp.File("other-program.zip");
        using (var zip = System.IO.Compression.ZipFile.Open(other, System.IO.Compression.ZipArchiveMode.Create))
        using (var w = new StreamWriter(zip.CreateEntry("readme.txt").Open())) w.Write("not a model");
        var (code, output) = CliTests.Run("predict", "--model", other, "--text", "a b c");
        AssertOneErrorLine(code, output, other, "not an ML.NET model", "readme.txt");
        Assert.DoesNotContain("legacy", output);
    }

    [TestMethod]
    public void VerboseAddsTheStackTrace()
    {
        var tampered = HostileModelZipTests.Tampered(_zip, "cli-verbose", (l, b) => HostileModelZipTests.WriteInt(b, l.ClassCountOffset, -5));
        var (code, output) = CliTests.Run("predict", "--model", tampered, "--text", "a b c", "--verbose");
        Assert.AreEqual(1, code, output);
        StringAssert.StartsWith(output, "error: ", output);
        StringAssert.Contains(output, "classCount", output);
        StringAssert.Contains(output, "   at ", output);
        Assert.IsGreaterThan(2, Lines(output).Length, output);

        Environment.SetEnvironmentVariable("MLNETLLM_VERBOSE", "1");
        try
        {
            (code, output) = CliTests.Run("predict", "--model", tampered, "--text", "a b c");
            Assert.AreEqual(1, code, output);
            StringAssert.Contains(output, "   at ", output);
        }
        finally
        {
            Environment.SetEnvironmentVariable("MLNETLLM_VERBOSE", null);
        }
    }

    /// <summary>What the boundary prints for an exception thrown by a command body, and its exit code.</summary>
    private static (int Code, string Output) Boundary(Exception e, bool verbose = false)
    {
        var stdout = Console.Out;
        var stderr = Console.Error;
        var writer = new StringWriter();
        Console.SetOut(writer);
        Console.SetError(writer);
        try
        {
            int code = CliCommon.Run(verbose, () => throw e);
            return (code, writer.ToString());
        }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }

    private static Exception Thrown(Func<Exception> make)
    {
        try { throw make(); }
        catch (Exception e) { return e; }
    }

    [TestMethod]
    public void EveryExceptionTypeBecomesOneLine()
    {
#pragma warning disable CA2201 // the boundary must handle the runtime's own exception types, so the test raises them
        var cases = new (Exception Error, string Expected)[]
        {
            (new HubException(HubErrorKind.NotFound, "no/such-repo", "no/such-repo: repository not found on https://huggingface.co."), "repository not found"),
            (new OutOfMemoryException("Array dimensions exceeded supported range."), "out of memory"),
            (Thrown(() => new OverflowException("Arithmetic operation resulted in an overflow.")), "overflow"),
            (new ExternalException("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory\nException raised from allocate at ../c10/core/impl/alloc_cpu.cpp:117\nframe #0: ..."), "DefaultCPUAllocator"),
            (new TargetInvocationException(new InvalidDataException("model.zip: header field batchSize = 0 is out of range.")), "batchSize"),
            (new AggregateException(new AggregateException(new FileNotFoundException("x.csv not found."))), "x.csv not found"),
            (new TypeInitializationException("Some.Type", new NotSupportedException("no CUDA.")), "no CUDA"),
            (new NullReferenceException("Object reference not set to an instance of an object."), "NullReferenceException"),
            (new MLNetLlmClassifier.Checkpoints.CheckpointMismatchException("/m/model.safetensors", ["a.weight", "b.weight"], [], []), "a.weight"),
        };
#pragma warning restore CA2201
        foreach (var (error, expected) in cases)
        {
            var (code, output) = Boundary(error);
            AssertOneErrorLine(code, output, expected);
            Assert.DoesNotContain("   at ", output, output);
            (code, output) = Boundary(error, verbose: true);
            Assert.AreEqual(1, code, output);
            StringAssert.StartsWith(output, "error: ", output);
            StringAssert.Contains(output, error.GetType().Name, "--verbose prints the full exception");
        }
        // Cancellation keeps its exit code, also when wrapped.
        Assert.AreEqual(130, Boundary(new OperationCanceledException()).Code);
        Assert.AreEqual(130, Boundary(new AggregateException(new TaskCanceledException())).Code);
    }
}
