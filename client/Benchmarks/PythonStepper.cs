using System.Diagnostics;
using System.Globalization;

namespace GidCluster.Client.Benchmarks;

/// <summary>
/// A python3 process that holds a reference network and answers one request per line (e.g. "step") with one
/// number (its milliseconds). Benchmarks interleave its steps with ours one by one, so the machine's drift falls on
/// both sides alike. The script prints <c>ready</c> once it is set up.
/// </summary>
internal sealed class PythonStepper : IDisposable
{
    private readonly Process _process;

    /// <param name="args">python3's arguments (e.g. <c>-c SCRIPT ARGS…</c>).</param>
    /// <param name="waitPolicy">OMP_WAIT_POLICY for the child, the same as ours.</param>
    public PythonStepper(IEnumerable<string> args, string waitPolicy)
    {
        var start = new ProcessStartInfo("/usr/bin/python3")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["OMP_WAIT_POLICY"] = waitPolicy;
        foreach (var a in args) start.ArgumentList.Add(a);
        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start /usr/bin/python3");
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"python3: {e.Data}"); };
        _process.BeginErrorReadLine();
        var ready = _process.StandardOutput.ReadLine();
        if (ready != "ready") throw new InvalidOperationException($"the Python reference stepper did not start (said: {ready ?? "nothing"})");
    }

    public int Pid => _process.Id;

    /// <summary>Sends one request line; returns the number the script answers.</summary>
    public double Ask(string command)
    {
        _process.StandardInput.WriteLine(command);
        _process.StandardInput.Flush();
        var line = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the Python reference stepper exited");
        return double.Parse(line, CultureInfo.InvariantCulture);
    }

    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(TimeSpan.FromSeconds(30))) _process.Kill(entireProcessTree: true);
        }
        finally { _process.Dispose(); }
    }

    /// <summary>
    /// libgomp reads OMP_WAIT_POLICY once, when libtorch loads: a benchmark that compares against Python runs with
    /// PASSIVE from the start (spinning OpenMP threads distort timings on a shared machine). Returns the policy of this
    /// process, or null after running this command again in a child that has PASSIVE (its exit code in <paramref name="exitCode"/>).
    /// </summary>
    public static string? WaitPolicyOrRunAgain(out int exitCode)
    {
        exitCode = 0;
        var policy = Environment.GetEnvironmentVariable("OMP_WAIT_POLICY");
        if (!string.IsNullOrEmpty(policy))
            return policy;
        var args = Environment.GetCommandLineArgs();
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this process's executable");
        // Under `dotnet gid.dll` the first argument is the assembly the host must be given again.
        var start = new ProcessStartInfo(host);
        foreach (var a in Path.GetFileNameWithoutExtension(host) == "dotnet" ? args : args[1..]) start.ArgumentList.Add(a);
        start.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        using var child = Process.Start(start) ?? throw new InvalidOperationException($"could not start {host}");
        child.WaitForExit();
        exitCode = child.ExitCode;
        return null;
    }
}
