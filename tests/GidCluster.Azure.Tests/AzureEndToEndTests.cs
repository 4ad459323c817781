using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure.Storage.Blobs;
using GidCluster.Cluster.Tests;
using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Grains.Blobs.Azure;
using GidCluster.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace GidCluster.Azure.Tests;

/// <summary>
/// A silo with <c>--blob azure://CONTAINER?connection-env=VAR</c> over Azurite: an ingestion job
/// submitted and a checkpoint pulled through the real gid client, outputs checked in Azurite itself,
/// a tampered blob refused, and the account key nowhere in logs, client output or API responses.
/// </summary>
[Collection("azurite")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AzureEndToEndTests(AzuriteServer azurite)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static async Task<byte[]> ReadAll(IBlobStore store, string path)
    {
        await using var stream = await store.OpenReadAsync(path);
        var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    /// <summary>Blob names as the service itself lists them (through a separate SDK client, not the store under test).</summary>
    private async Task<List<string>> RawListAsync(string container, string prefix)
    {
        var client = new BlobContainerClient(azurite.ConnectionString, container, AzureBlobStore.ClientOptions(new AzureBlobStoreOptions()));
        var names = new List<string>();
        await foreach (var blob in client.GetBlobsAsync(new global::Azure.Storage.Blobs.Models.GetBlobsOptions { Prefix = prefix }))
            names.Add(blob.Name);
        return names;
    }

    [Fact]
    public async Task Ingestion_and_checkpoint_pull_run_end_to_end_with_blob_on_azurite()
    {
        using var dir = Paths.NewTempDir("gid-azure-e2e");
        var videos = Path.Combine(dir.Path, "videos");
        var clips = SyntheticVideos.Make(videos, 2, seconds: 1);
        var container = AzureBlobStoreContractTests.NewContainer();
        // The key travels only through this variable, named in the URI; unique so parallel tests never share it.
        var variable = $"GID_E2E_AZURE_{Guid.NewGuid():N}"[..30].ToUpperInvariant();
        Environment.SetEnvironmentVariable(variable, azurite.ConnectionString);
        var seen = new StringBuilder(); // everything the user or a log reader could see, grepped for the key at the end
        try
        {
            var blobUri = $"azure://{container}?connection-env={variable}";
            await using var silo = await InProcessSilo.StartAsync($"sqlite:{Path.Combine(dir.Path, "c.db")}", blobUri, [videos]);
            Assert.IsType<AzureBlobStore>(silo.App.Services.GetRequiredService<IBlobStore>());
            using var azure = AzureBlobStore.FromConnectionString(azurite.ConnectionString, container);

            // The client reads checkpoints from the blob store itself, so it gets the variable (never the key on its command line).
            var env = new Dictionary<string, string?> { ["GID_CLUSTER"] = silo.Gateway, ["GID_BLOB"] = blobUri, ["GID_DATA"] = dir.Path, [variable] = azurite.ConnectionString };
            ProgramResult Gid(params string[] args)
            {
                var r = Programs.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "gid.dll"), .. args], TimeSpan.FromSeconds(90), environment: env);
                seen.AppendLine(r.Combined);
                return r;
            }
            async Task<string> Api(string path)
            {
                using var response = await silo.Http.SendAsync(silo.Request(HttpMethod.Get, path));
                var body = await response.Content.ReadAsStringAsync();
                seen.AppendLine(body);
                Assert.True(response.IsSuccessStatusCode, $"{path}: {response.StatusCode} {body}");
                return body;
            }

            // Ingestion through the real client, waited for.
            var submit = Gid("ingest", "submit", clips[0], clips[1], "--dataset", "az", "--wait");
            Assert.True(submit.ExitCode == 0, submit.Combined);
            Assert.Contains("succeeded; 2/2 videos done", submit.Stdout);
            var jobId = submit.Stdout.Split('\n').First(l => l.StartsWith("job ", StringComparison.Ordinal)).Split(' ', ':')[1];
            var job = JsonSerializer.Deserialize<JobView>(await Api($"api/ingestion/jobs/{jobId}"), Json)!;
            Assert.Equal("succeeded", job.State);
            Assert.Equal("datasets/az/manifest.json", job.Manifest);

            // The outputs are in Azurite: the manifest's recorded hash matches its bytes there, and every
            // blob it lists exists with the listed size and sha256.
            var manifestBytes = await ReadAll(azure, job.Manifest!);
            Assert.Equal(job.ManifestSha256, Convert.ToHexStringLower(SHA256.HashData(manifestBytes)));
            var stored = new Dictionary<string, BlobInfo>(StringComparer.Ordinal);
            await foreach (var b in azure.ListAsync("datasets/az/"))
                stored[b.Path] = b;
            Assert.Equal(stored.Keys.Order(StringComparer.Ordinal), (await RawListAsync(container, "datasets/az/")).Order(StringComparer.Ordinal));
            using var manifest = JsonDocument.Parse(manifestBytes);
            var listed = manifest.RootElement.GetProperty("videos").EnumerateArray().SelectMany(v => v.GetProperty("blobs").EnumerateArray()).ToList();
            Assert.Equal(2, listed.Count);
            foreach (var b in listed)
            {
                var path = "datasets/az/" + b.GetProperty("path").GetString();
                Assert.True(stored.ContainsKey(path), $"{path} not in Azurite: {string.Join(", ", stored.Keys)}");
                var bytes = await ReadAll(azure, path);
                Assert.Equal(b.GetProperty("size").GetInt64(), bytes.Length);
                Assert.Equal(b.GetProperty("sha256").GetString(), Convert.ToHexStringLower(SHA256.HashData(bytes)));
            }
            Assert.Contains("datasets/az/manifest.json", stored.Keys);

            // A run's checkpoint as the training launcher records it: bytes in the Azure store, files listed by the run grain.
            var blobs = silo.App.Services.GetRequiredService<IBlobStore>();
            var run = silo.Grains.GetGrain<ITrainingRunGrain>("run-az");
            await run.Create();
            var files = new Dictionary<string, byte[]>();
            var views = new List<CheckpointFileView>();
            foreach (var (name, size) in new[] { ("model.pt", 300_000), ("optimizer.pt", 70_000) })
            {
                var bytes = RandomNumberGenerator.GetBytes(size);
                var info = await blobs.PutAsync($"runs/run-az/step-40/{name}", new MemoryStream(bytes));
                views.Add(new CheckpointFileView(info.Path, info.Size, info.Sha256!));
                files[name] = bytes;
            }
            await run.RecordCheckpoint(40, views);
            Assert.Contains("run-az", await Api("api/runs"));
            var outDir = Path.Combine(dir.Path, "pulled");
            var pull = Gid("checkpoints", "pull", "run-az", "--out", outDir);
            Assert.True(pull.ExitCode == 0, pull.Combined);
            foreach (var (name, bytes) in files)
                Assert.Equal(bytes, File.ReadAllBytes(Path.Combine(outDir, name)));

            // Overwritten in Azurite behind the store's back: the pull's sha256 check refuses it and keeps nothing.
            await azure.PutAsync("runs/run-az/step-40/model.pt", new MemoryStream(Encoding.UTF8.GetBytes("tampered")));
            var badDir = Path.Combine(dir.Path, "bad");
            var bad = Gid("checkpoints", "pull", "run-az", "--out", badDir);
            Assert.Equal(2, bad.ExitCode);
            Assert.Contains("sha256 mismatch", bad.Stderr);
            Assert.False(File.Exists(Path.Combine(badDir, "model.pt")));

            await Api("api/cluster");
            await Api($"api/events?job={jobId}&limit=1000");
            await Api("api/runs/run-az/checkpoints");
            await Api("api/dashboard/snapshot");
            await Api("api/prometheus");
            seen.AppendLine(silo.Logs.Text);
            Assert.Contains(jobId, silo.Logs.Text); // the grep below covers the silo's real log lines
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
        var text = seen.ToString();
        Assert.DoesNotContain(azurite.Key, text);
        Assert.DoesNotContain("AccountKey", text);
    }
}
