using GidCluster.Grains.Blobs.Azure;
using Xunit;

namespace GidCluster.Azure.Tests;

public sealed class AzureConnectionStringTests
{
    private const string Key = "c2VjcmV0LWtleS1mb3ItcGFyc2luZy10ZXN0cy1vbmx5LTAxMjM0NTY3ODk=";

    [Fact]
    public void The_usual_form_builds_the_account_endpoint_from_protocol_name_and_suffix()
    {
        var a = AzureConnectionString.Parse($"DefaultEndpointsProtocol=https;AccountName=gidprod;AccountKey={Key};EndpointSuffix=core.chinacloudapi.cn");
        Assert.Equal("gidprod", a.AccountName);
        Assert.Equal("https://gidprod.blob.core.chinacloudapi.cn/", a.BlobEndpoint.ToString());
        var d = AzureConnectionString.Parse($"AccountName=gidprod;AccountKey={Key}");
        Assert.Equal("https://gidprod.blob.core.windows.net/", d.BlobEndpoint.ToString());
    }

    [Fact]
    public void An_explicit_blob_endpoint_wins_and_keeps_its_path()
    {
        var a = AzureConnectionString.Parse($" AccountName=acct ; AccountKey={Key} ; BlobEndpoint=http://10.0.0.5:10000/acct/ ;QueueEndpoint=http://x;");
        Assert.Equal("http://10.0.0.5:10000/acct", a.BlobEndpoint.ToString());
    }

    [Fact]
    public void Development_storage_is_the_published_account_on_loopback()
    {
        var a = AzureConnectionString.Parse("UseDevelopmentStorage=true");
        Assert.Equal("devstoreaccount1", a.AccountName);
        Assert.Equal("http://127.0.0.1:10000/devstoreaccount1", a.BlobEndpoint.ToString());
        var p = AzureConnectionString.Parse("UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://azurite.local");
        Assert.Equal("http://azurite.local:10000/devstoreaccount1", p.BlobEndpoint.ToString());
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("AccountName=a", "no AccountKey")]
    [InlineData("AccountKey=" + Key, "no AccountName")]
    [InlineData("AccountName=a;AccountKey=not base64!", "AccountKey is not valid base64")]
    [InlineData("AccountName=a;AccountKey=" + Key + ";Colour=blue", "unknown setting 'Colour'")]
    [InlineData("AccountName=a;AccountKey=" + Key + ";DefaultEndpointsProtocol=ftp", "DefaultEndpointsProtocol must be http or https")]
    [InlineData("AccountName=a;AccountKey=" + Key + ";BlobEndpoint=nowhere", "BlobEndpoint is not an http(s) URL")]
    [InlineData("UseDevelopmentStorage=false", "UseDevelopmentStorage must be 'true'")]
    [InlineData("AccountName=a;SharedAccessSignature=sv=1", "does not support")]
    [InlineData("AccountName=a;AccountName=b", "sets 'AccountName' twice")]
    public void Bad_connection_strings_say_what_is_wrong(string text, string expected)
    {
        var e = Assert.Throws<FormatException>(() => AzureConnectionString.Parse(text));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain(Key, e.Message);
    }

    [Fact]
    public void Bad_container_names_are_refused_with_the_rule()
    {
        foreach (var bad in new[] { "ab", "Upper", "a--b", "-ab", "ab-", "a_b", new string('a', 64) })
        {
            var e = Assert.Throws<ArgumentException>(() => AzureBlobStore.FromConnectionString($"AccountName=a;AccountKey={Key}", bad));
            Assert.Contains("container name", e.Message);
        }
    }
    [Theory]
    [InlineData("azure://data", "AZURE_STORAGE_CONNECTION_STRING", "data")]
    [InlineData("azure://gid-data/?connection-env=GID_AZURE", "GID_AZURE", "gid-data")]
    public void Blob_uris_name_the_container_and_the_variable_holding_the_connection_string(string uri, string variable, string container)
    {
        string? asked = null;
        using var store = AzureBlobStore.FromUri(uri, name => { asked = name; return $"AccountName=acct;AccountKey={Key}"; });
        Assert.Equal(variable, asked);
        Assert.Equal(container, store.Container);
        Assert.Contains("acct", store.Describe());
    }

    [Theory]
    [InlineData("azure://data?account=gidprod", "account 'gidprod' at https://gidprod.blob.core.windows.net")]
    [InlineData("azure://data?endpoint=https://gidprod.blob.core.chinacloudapi.cn", "at https://gidprod.blob.core.chinacloudapi.cn")]
    public void Account_uris_use_the_default_azure_credential_and_read_no_key(string uri, string described)
    {
        using var store = AzureBlobStore.FromUri(uri, name => throw new InvalidOperationException($"read {name}: no key should be looked up"));
        Assert.Equal("data", store.Container);
        Assert.Contains(described, store.Describe());
    }

    [Theory]
    [InlineData("azure://data?account=Bad_Name", "account name 'Bad_Name' is invalid")]
    [InlineData("azure://data?endpoint=ftp://x", "endpoint must be the account's blob endpoint URL")]
    [InlineData("azure://data?account=gidprod&connection-env=X", "not both")]
    [InlineData("file:/tmp/x", "not an Azure blob URI")]
    [InlineData("azure://data/sub", "nothing after the container")]
    [InlineData("azure://data?key=" + Key, "the only query parameter is connection-env")]
    [InlineData("azure://data?connection-env=UNSET_VARIABLE", "UNSET_VARIABLE is not set")]
    [InlineData("azure://Data", "container name 'Data' is invalid")]
    public void Bad_blob_uris_say_what_is_wrong_without_echoing_secrets(string uri, string expected)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => AzureBlobStore.FromUri(uri, name => name == "UNSET_VARIABLE" ? null : $"AccountName=acct;AccountKey={Key}"));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain(Key, e.Message);
    }
}
