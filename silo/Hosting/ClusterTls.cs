using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace GidCluster.Silo.Hosting;

/// <summary>
/// Mutual TLS on Orleans' silo and gateway connections (Microsoft.Orleans.Connections.Security): every
/// side presents a certificate issued by the cluster's own CA and accepts only peers whose certificate
/// chains to that CA. Silos and clients connect by IP, so host names are not checked; the CA is the trust.
/// Files are PEM; the key's file path may be logged, its contents never.
/// </summary>
public sealed class ClusterTls
{
    public const string CertVariable = "GID_TLS_CERT";
    public const string KeyVariable = "GID_TLS_KEY";
    public const string CaVariable = "GID_TLS_CA";

    private ClusterTls(X509Certificate2 certificate, X509Certificate2 authority)
    {
        Certificate = certificate;
        Authority = authority;
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>The cluster's CA: the only issuer trusted for peers.</summary>
    public X509Certificate2 Authority { get; }

    /// <summary>Loads the certificate, its key and the CA; null when none is given; an error naming the missing or bad one otherwise.</summary>
    public static ClusterTls? Load(string? cert, string? key, string? ca, string how = "--tls-cert/--tls-key/--tls-ca")
    {
        if (cert is null && key is null && ca is null)
            return null;
        if (cert is null || key is null || ca is null)
            throw new ArgumentException($"TLS needs all three of {how}: the certificate, its private key and the cluster CA (PEM files)");
        foreach (var (file, what) in new[] { (cert, "certificate"), (key, "private key"), (ca, "CA certificate") })
        {
            if (!File.Exists(file))
                throw new ArgumentException($"TLS {what} file '{file}' does not exist");
        }
        try
        {
            var certificate = X509Certificate2.CreateFromPemFile(cert, key);
            if (!certificate.HasPrivateKey)
                throw new ArgumentException($"TLS certificate '{cert}' has no private key in '{key}'");
            return new ClusterTls(certificate, X509CertificateLoader.LoadCertificateFromFile(ca));
        }
        catch (CryptographicException e)
        {
            // The message names the files, never their contents.
            throw new ArgumentException($"TLS certificate '{cert}' with key '{key}' or CA '{ca}' cannot be read as PEM: {e.Message}");
        }
    }

    /// <summary>From <c>GID_TLS_CERT</c>, <c>GID_TLS_KEY</c> and <c>GID_TLS_CA</c> (the client's way, and the silo's fallback).</summary>
    public static ClusterTls? FromEnvironment(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s;
        return Load(NonEmpty(environment(CertVariable)), NonEmpty(environment(KeyVariable)), NonEmpty(environment(CaVariable)),
            $"{CertVariable}/{KeyVariable}/{CaVariable}");
    }

    /// <summary>Both directions require a certificate from the cluster CA (a silo is also a client of other silos).</summary>
    public void Configure(TlsOptions options)
    {
        options.LocalCertificate = Certificate;
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.RemoteCertificateValidation = (certificate, _, errors) => IssuedByAuthority(certificate, errors);
    }

    /// <summary>True if <paramref name="peer"/> chains to the cluster CA; name mismatches are not errors (peers are addressed by IP).</summary>
    public bool IssuedByAuthority(X509Certificate2? peer, SslPolicyErrors errors)
    {
        if (peer is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
            return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Authority);
        // A private CA publishes no revocation lists; rotating the CA is how a certificate is withdrawn.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(peer);
    }
}
