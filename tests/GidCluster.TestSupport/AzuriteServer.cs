using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
namespace GidCluster.TestSupport;

/// <summary>
/// A real Azurite server (blob, table and queue services) on free loopback ports, started once per
/// test collection or class that asks for it and always stopped. Its account has a fresh random key, so that the
/// "key never printed" checks look for a secret nobody else knows; the published development
/// account is loaded too, to check the <c>UseDevelopmentStorage=true</c> shortcut.
/// </summary>
public sealed class AzuriteServer : IDisposable
{
    public const string Account = "gidtestacct";

    /// <summary>Azurite's published development key, written out here independently of the parser under test.</summary>
    public const string DevelopmentKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly Process _process;
    private readonly TempDir _data = Paths.NewTempDir("gid-azurite");
    private readonly StringBuilder _output = new();

    public AzuriteServer()
    {
        var exe = Path.Combine(Paths.Repo, "tests", "js", "node_modules", ".bin", "azurite");
        if (!File.Exists(exe))
            throw new InvalidOperationException($"Azurite is not installed at {exe}: run ./gid once (it installs the npm test tools)");
        Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
        Port = Loopback.FreePort();
        TablePort = Loopback.FreePort();
        var start = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _data.Path,
        };
        string[] args =
        [
            "--blobHost", "127.0.0.1", "--blobPort", $"{Port}", "--tableHost", "127.0.0.1", "--tablePort", $"{TablePort}",
            "--queueHost", "127.0.0.1", "--queuePort", $"{Loopback.FreePort()}", "--location", _data.Path, "--silent",
        ];
        foreach (var a in args)
            start.ArgumentList.Add(a);
        start.Environment["AZURITE_ACCOUNTS"] = $"{Account}:{Key};devstoreaccount1:{DevelopmentKey}";
        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start Azurite");
        _process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_output) _output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_output) _output.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        WaitUntilListening(Port, TimeSpan.FromSeconds(30));
        WaitUntilListening(TablePort, TimeSpan.FromSeconds(30));
    }

    /// <summary>The blob service's port.</summary>
    public int Port { get; }

    /// <summary>The table service's port (Orleans' clustering, grain state and reminders).</summary>
    public int TablePort { get; }

    /// <summary>The random account key (base64).</summary>
    public string Key { get; }

    public Uri Endpoint => new($"http://127.0.0.1:{Port}/{Account}");

    public Uri TableEndpoint => new($"http://127.0.0.1:{TablePort}/{Account}");

    public string ConnectionString => ConnectionStringFor(Endpoint);

    /// <summary>A connection string for this account reaching it through <paramref name="endpoint"/> (e.g. a proxy).</summary>
    public string ConnectionStringFor(Uri endpoint) =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={Key};BlobEndpoint={endpoint};TableEndpoint={TableEndpoint}";

    public string Output { get { lock (_output) return _output.ToString(); } }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        finally
        {
            _process.Dispose();
            _data.Dispose();
        }
    }


    private void WaitUntilListening(int port, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"Azurite exited with {_process.ExitCode}:\n{Output}");
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, port);
                return;
            }
            catch (SocketException) { Thread.Sleep(100); }
        }
        Dispose();
        throw new TimeoutException($"Azurite did not listen on port {port} within {limit}:\n{Output}");
    }
}
