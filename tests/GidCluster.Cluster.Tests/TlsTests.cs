using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using GidCluster.Client.Commands;
using GidCluster.Contracts;
using GidCluster.Silo.Hosting;
using GidCluster.TestSupport;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// Mutual TLS on the gateway (Orleans.Connections.Security) with throwaway certificates made here (a cluster
/// CA, a silo and a client certificate from it, and a client certificate from a stranger's CA; no key is ever
/// committed): the real gid client with the cluster's certificate gets through; a client without a certificate,
/// or with one the cluster CA did not issue, is refused; a silo off loopback without TLS does not start.
/// </summary>
public sealed class TlsTests : IDisposable
{
    private readonly TempDir _dir = Paths.NewTempDir("gid-tls");

    public void Dispose() => _dir.Dispose();

    private static X509Certificate2 NewCa(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>A leaf certificate for both TLS roles (a silo is a server to clients and a client of other silos), written as PEM files.</summary>
    private (string Cert, string Key) NewLeaf(X509Certificate2 ca, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(12));
        var (certPath, keyPath) = (Path.Combine(_dir.Path, $"{name}.crt"), Path.Combine(_dir.Path, $"{name}.key"));
        File.WriteAllText(certPath, cert.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certPath, keyPath);
    }

    private string WriteCa(X509Certificate2 ca, string name)
    {
        var path = Path.Combine(_dir.Path, $"{name}.crt");
        File.WriteAllText(path, ca.ExportCertificatePem());
        return path;
    }

    [Fact]
    public async Task The_gateway_with_TLS_admits_the_clusters_certificate_and_refuses_none_or_a_strangers()
    {
        using var ca = NewCa("gid test cluster CA");
        using var stranger = NewCa("someone else's CA");
        var caPath = WriteCa(ca, "ca");
        var strangerCaPath = WriteCa(stranger, "stranger-ca");
        var silo = NewLeaf(ca, "silo");
        var client = NewLeaf(ca, "client");
        var rogue = NewLeaf(stranger, "rogue");

        await using var server = await InProcessSilo.StartAsync($"sqlite:{_dir.Path}/c.db", $"file:{_dir.Path}/blobs", [_dir.Path],
            tls: ClusterTls.Load(silo.Cert, silo.Key, caPath));

        // The real client, certificate from the environment: the call reaches the job grain, which answers "no such job".
        var gid = Path.Combine(AppContext.BaseDirectory, "gid.dll");
        var env = new Dictionary<string, string?>
        {
            ["GID_DATA"] = _dir.Path,
            ["GID_CLUSTER"] = server.Gateway,
            ["GID_BLOB"] = null,
            [ClusterTls.CertVariable] = client.Cert,
            [ClusterTls.KeyVariable] = client.Key,
            [ClusterTls.CaVariable] = caPath,
        };
        var admitted = Programs.Run("dotnet", [gid, "ingest", "status", "ing-nope"], TimeSpan.FromSeconds(90), environment: env);
        Assert.Equal(2, admitted.ExitCode);
        Assert.Contains("no ingestion job 'ing-nope'", admitted.Stderr);
        Assert.DoesNotContain("PRIVATE KEY", admitted.Combined);

        // In-process for the refusals, with a short connect limit (each refusal otherwise waits the client's 30 s).
        await using (var ok = await ClusterClient.ConnectAsync(server.Gateway, CancellationToken.None, ClusterTls.Load(client.Cert, client.Key, caPath), TimeSpan.FromSeconds(60)))
            Assert.Null(await ok.Grains.GetGrain<IIngestionJobGrain>("ing-nope").GetView(false));
        var none = await Assert.ThrowsAsync<ClusterClientException>(() => ConnectWithout(server.Gateway));
        Assert.Contains("cannot reach the cluster's gateway", none.Message);
        Assert.Contains("needs TLS", none.Message);
        // The rogue client trusts the cluster's CA (it may see the silo), but its own certificate is a stranger's.
        var refused = await Assert.ThrowsAsync<ClusterClientException>(() =>
            ClusterClient.ConnectAsync(server.Gateway, CancellationToken.None, ClusterTls.Load(rogue.Cert, rogue.Key, caPath), TimeSpan.FromSeconds(10)));
        Assert.Contains("cluster's CA", refused.Message);
        // And a client that trusts only a stranger's CA refuses the silo.
        await Assert.ThrowsAsync<ClusterClientException>(() =>
            ClusterClient.ConnectAsync(server.Gateway, CancellationToken.None, ClusterTls.Load(client.Cert, client.Key, strangerCaPath), TimeSpan.FromSeconds(10)));
        Assert.DoesNotContain("PRIVATE KEY", server.Logs.Text);
    }

    /// <summary>A plain-TCP client (no certificate), whatever the test process's environment says.</summary>
    private static async Task ConnectWithout(string gateway)
    {
        var saved = Environment.GetEnvironmentVariable(ClusterTls.CertVariable);
        Assert.Null(saved);
        await using var _ = await ClusterClient.ConnectAsync(gateway, CancellationToken.None, null, TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void A_silo_off_loopback_needs_the_whole_TLS_configuration()
    {
        using var ca = NewCa("gid test cluster CA");
        var caPath = WriteCa(ca, "ca");
        var silo = NewLeaf(ca, "silo");
        string[] common = ["--role", "worker", "--store", $"sqlite:{_dir.Path}/c.db", "--blob", $"file:{_dir.Path}/blobs", "--address", "10.20.30.40"];
        var noEnv = (Func<string, string?>)(_ => null);

        var without = Assert.Throws<ArgumentException>(() => SiloOptions.Parse(common, noEnv));
        Assert.Contains("needs TLS with client certificates", without.Message);
        var partial = Assert.Throws<ArgumentException>(() => SiloOptions.Parse([.. common, "--tls-cert", silo.Cert, "--tls-key", silo.Key], noEnv));
        Assert.Contains("all three", partial.Message);
        var missing = Assert.Throws<ArgumentException>(() => SiloOptions.Parse([.. common, "--tls-cert", silo.Cert, "--tls-key", silo.Key, "--tls-ca", caPath + ".gone"], noEnv));
        Assert.Contains("does not exist", missing.Message);
        var wrongKey = Assert.Throws<ArgumentException>(() => SiloOptions.Parse([.. common, "--tls-cert", silo.Cert, "--tls-key", caPath, "--tls-ca", caPath], noEnv));
        Assert.Contains("cannot be read", wrongKey.Message);

        var options = SiloOptions.Parse([.. common, "--tls-cert", silo.Cert, "--tls-key", silo.Key, "--tls-ca", caPath], noEnv);
        Assert.NotNull(options.Tls);
        Assert.True(options.Tls!.Certificate.HasPrivateKey);
        // From the environment, as a pod gets its mounted secret's paths.
        var fromEnv = SiloOptions.Parse(common, v => v switch
        {
            ClusterTls.CertVariable => silo.Cert,
            ClusterTls.KeyVariable => silo.Key,
            ClusterTls.CaVariable => caPath,
            _ => null,
        });
        Assert.Equal(options.Tls.Certificate.Thumbprint, fromEnv.Tls!.Certificate.Thumbprint);
    }

    [Fact]
    public void A_silo_in_a_pod_takes_its_name_address_and_ids_from_the_downward_API()
    {
        using var ca = NewCa("gid test cluster CA");
        var caPath = WriteCa(ca, "ca");
        var silo = NewLeaf(ca, "silo");
        string[] args = ["--role", "worker", "--store", "azure?account=gidtest", "--blob", $"file:{_dir.Path}/blobs"];
        var pod = new Dictionary<string, string>
        {
            [KubernetesPod.NameVariable] = "gid-worker-7c9d-x2v",
            [KubernetesPod.NamespaceVariable] = "gid",
            [KubernetesPod.AddressVariable] = "10.244.1.17",
            [KubernetesPod.ClusterIdVariable] = "gid-prod",
            [KubernetesPod.ServiceIdVariable] = "gid",
            [ClusterTls.CertVariable] = silo.Cert,
            [ClusterTls.KeyVariable] = silo.Key,
            [ClusterTls.CaVariable] = caPath,
        };
        Func<string, string?> Without(params string[] names) => v => names.Contains(v) ? null : pod.GetValueOrDefault(v);

        var options = SiloOptions.Parse(args, Without());
        Assert.Equal(new KubernetesPod("gid-worker-7c9d-x2v", "gid", IPAddress.Parse("10.244.1.17"), "gid-prod", "gid"), options.Pod);
        Assert.Equal("gid-worker-7c9d-x2v", options.Id);
        Assert.Equal(IPAddress.Parse("10.244.1.17"), options.Address);
        Assert.Equal("gid-prod", options.ClusterId);
        Assert.NotNull(options.Tls);
        // Outside a pod nothing of this applies.
        Assert.Null(SiloOptions.Parse(args, Without(KubernetesPod.NameVariable, KubernetesPod.NamespaceVariable, KubernetesPod.AddressVariable, ClusterTls.CertVariable, ClusterTls.KeyVariable, ClusterTls.CaVariable)).Pod);

        Assert.Contains("POD_NAMESPACE is not", Assert.Throws<ArgumentException>(() => SiloOptions.Parse(args, Without(KubernetesPod.NamespaceVariable))).Message);
        Assert.Contains("POD_NAME is not", Assert.Throws<ArgumentException>(() => SiloOptions.Parse(args, Without(KubernetesPod.NameVariable))).Message);
        Assert.Contains("POD_IP is not set", Assert.Throws<ArgumentException>(() => SiloOptions.Parse(args, Without(KubernetesPod.AddressVariable))).Message);
        Assert.Contains("needs --store azure", Assert.Throws<ArgumentException>(() => SiloOptions.Parse(["--role", "worker", "--store", $"sqlite:{_dir.Path}/c.db", "--blob", $"file:{_dir.Path}/blobs"], Without())).Message);
        // A pod address is not loopback: without the mounted certificates the silo refuses to start.
        Assert.Contains("needs TLS", Assert.Throws<ArgumentException>(() => SiloOptions.Parse(args, Without(ClusterTls.CertVariable, ClusterTls.KeyVariable, ClusterTls.CaVariable))).Message);
    }
}
