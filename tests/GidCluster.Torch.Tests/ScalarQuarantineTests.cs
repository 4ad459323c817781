using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using GidCluster.Training.Tensors;
using TorchSharp;

namespace GidCluster.Torch.Tests;

/// <summary>
/// TorchSharp 0.107 Scalars left to the finalizer (see <see cref="ScalarQuarantine"/>): the race in a child process
/// with TorchSharp as shipped, and its absence with the quarantine this project installs.
/// </summary>
public partial class ScalarQuarantineTests
{
    [Fact]
    public void The_quarantine_is_installed_and_a_disposed_scalar_stays_readable()
    {
        Assert.True(ScalarQuarantine.Installed);
        var scalar = 2.5.ToScalar();
        var pointer = (IntPtr)typeof(Scalar).GetProperty("Handle", BindingFlags.Instance | BindingFlags.NonPublic)!.GetValue(scalar)!;
        var before = ScalarQuarantine.Stats();
        scalar.Dispose();
        // TorchSharp has forgotten the pointer; libtorch's memory behind it is still the Scalar (freed, it would hold
        // the allocator's free-list links instead).
        Assert.Equal(2.5, ScalarToDouble(pointer));
        Assert.True(ScalarQuarantine.Stats().Held >= before.Held + 1 || ScalarQuarantine.Stats().Freed > before.Freed);
    }

    [Fact]
    public void Implicit_scalars_under_garbage_collection_pressure_are_read_correctly()
    {
        var shipped = Race(new Dictionary<string, string?> { [ScalarQuarantine.Switch] = "off" }, seconds: 30);
        var ours = Race(new Dictionary<string, string?> { [ScalarQuarantine.Switch] = null }, seconds: 15);
        Assert.True(ours.Crashed is false && ours.Wrong == 0 && ours.Ops > 10_000, "with the quarantine: " + ours.Output);
        Assert.True(ours.Held > 0, "the quarantine held no Scalar: TorchSharp's disposals did not go through it\n" + ours.Output);
        // Kept so the quarantine can go when a TorchSharp release keeps its Scalars alive across native calls.
        Assert.True(shipped.Crashed || shipped.Wrong > 0, "TorchSharp as shipped no longer shows the race: " + shipped.Output);
    }

    private sealed record RaceResult(long Ops, long Wrong, long Held, bool Crashed, string Output);

    private static RaceResult Race(IDictionary<string, string?> environment, double seconds)
    {
        var result = Programs.Run("dotnet", [typeof(Worker).Assembly.Location, "scalar-race", seconds.ToString(CultureInfo.InvariantCulture)],
            TimeSpan.FromSeconds(seconds + 120), environment: environment);
        var line = result.Stdout.Split('\n').FirstOrDefault(l => l.StartsWith("RACE ", StringComparison.Ordinal));
        if (result.ExitCode != 0 || line is null)
            return new RaceResult(0, 0, 0, Crashed: true, result.Combined);
        var f = line.Split(' ');
        return new RaceResult(long.Parse(f[2], CultureInfo.InvariantCulture), long.Parse(f[4], CultureInfo.InvariantCulture),
            long.Parse(f[6], CultureInfo.InvariantCulture), Crashed: false, result.Combined);
    }

    /// <summary>
    /// <c>scalar-race SECONDS</c>: one thread multiplies a one-element float64 tensor by implicitly converted Scalars and
    /// checks each product while another allocates garbage (so collections run during the native calls).
    /// Prints <c>RACE ops N wrong W held H</c>; an "Unknown scalar type" error counts as wrong.
    /// </summary>
    internal static int Race(double seconds)
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var churn = new Thread(() =>
        {
            var keep = new object[64];
            for (var i = 0; !stop.IsCancellationRequested; i++)
                keep[i & 63] = new byte[256 + (i & 1023)];
        })
        { IsBackground = true };
        churn.Start();
        long ops = 0, wrong = 0;
        using var one = torch.ones(1, torch.float64);
        while (!stop.IsCancellationRequested)
        {
            using var scope = torch.NewDisposeScope();
            for (var i = 0; i < 1000; i++, ops++)
            {
                var value = (double)((ops % 997) + 1);
                try
                {
                    if (one.mul(value).item<double>() != value) wrong++;
                }
                catch (ExternalException)
                {
                    wrong++;
                }
            }
        }
        churn.Join();
        Console.WriteLine($"RACE ops {ops} wrong {wrong} held {ScalarQuarantine.Stats().Held}");
        return 0;
    }

    [LibraryImport("LibTorchSharp", EntryPoint = "THSTorch_scalar_to_float64")]
    private static partial double ScalarToDouble(IntPtr scalar);
}
