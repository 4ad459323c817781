using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using GidCluster.TestSupport;
using Xunit;

namespace GidCluster.Azure.Tests;

/// <summary>
/// A real Azurite blob server on a free loopback port, started once for every test class in the
/// "azurite" collection and always stopped. Its account has a fresh random key, so that the
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
        var exe = Path.Combine(Paths.Repo, "tests", "js", "node_modules", ".bin", "azurite-blob");
        if (!File.Exists(exe))
            throw new InvalidOperationException($"Azurite is not installed at {exe}: run ./gid once (it installs the npm test tools)");
        Key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
        Port = FreePort();
        var start = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _data.Path,
        };
        foreach (var a in new[] { "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(), "--location", _data.Path, "--silent" })
            start.ArgumentList.Add(a);
        start.Environment["AZURITE_ACCOUNTS"] = $"{Account}:{Key};devstoreaccount1:{DevelopmentKey}";
        _process = Process.Start(start) ?? throw new InvalidOperationException("could not start Azurite");
        _process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_output) _output.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_output) _output.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        WaitUntilListening(TimeSpan.FromSeconds(30));
    }

    public int Port { get; }

    /// <summary>The random account key (base64).</summary>
    public string Key { get; }

    public Uri Endpoint => new($"http://127.0.0.1:{Port}/{Account}");

    public string ConnectionString => ConnectionStringFor(Endpoint);

    /// <summary>A connection string for this account reaching it through <paramref name="endpoint"/> (e.g. a proxy).</summary>
    public string ConnectionStringFor(Uri endpoint) =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={Key};BlobEndpoint={endpoint}";

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

    internal static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private void WaitUntilListening(TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
                throw new InvalidOperationException($"Azurite exited with {_process.ExitCode}:\n{Output}");
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) { Thread.Sleep(100); }
        }
        Dispose();
        throw new TimeoutException($"Azurite did not listen on port {Port} within {limit}:\n{Output}");
    }
}

[CollectionDefinition("azurite")]
public sealed class AzuriteCollection : ICollectionFixture<AzuriteServer>;
