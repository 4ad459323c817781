using GidCluster.Contracts;
using GidCluster.Grains.Blobs;
using GidCluster.Inference.Models;
using GidCluster.Inference.Rendering;
using GidCluster.TestSupport;
using GidCluster.Training.Models;
using Microsoft.Extensions.DependencyInjection;

namespace GidCluster.Cluster.Tests;

/// <summary>
/// <c>gid animate --model RUN</c> against a real in-process silo (SQLite, local blob store): the run's latest checkpoint
/// is pulled through the cluster into the model cache, used, reused while unchanged, and pulled again when a newer
/// checkpoint is recorded.
/// </summary>
public sealed class ModelFromRunTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    [Fact]
    public async Task Animate_pulls_a_runs_latest_checkpoint_into_the_cache_and_repulls_a_newer_one()
    {
        var dir = fixture.Dir.Path;
        var blobs = fixture.Silo.App.Services.GetRequiredService<IBlobStore>();
        var run = fixture.Silo.Grains.GetGrain<ITrainingRunGrain>("anim-run");
        await run.Create();

        // A checkpoint as the launcher records one: files in the blob store, listed by the run grain. Its files are a
        // complete model folder of seeded, untrained tiny networks (no trained model exists on this branch).
        async Task Record(long step, long seed)
        {
            var local = Path.Combine(dir, $"model-step-{step}");
            UntrainedModelFolder.Write(local, ModelConfig.Load("tiny"), 64, 48, seed);
            var files = new List<CheckpointFileView>();
            foreach (var file in Directory.GetFiles(local).Order(StringComparer.Ordinal))
            {
                await using var stream = File.OpenRead(file);
                var info = await blobs.PutAsync($"runs/anim-run/step-{step}/{Path.GetFileName(file)}", stream);
                files.Add(new CheckpointFileView(info.Path, info.Size, info.Sha256!));
            }
            await run.RecordCheckpoint(step, files);
        }
        await Record(10, seed: 1);

        var picture = Path.Combine(dir, "still.png");
        Picture.WriteImage(picture, 64, 48, Enumerable.Range(0, 64 * 48 * 3).Select(i => (byte)(i * 7 % 251)).ToArray());
        var env = new Dictionary<string, string?> { ["GID_CLUSTER"] = fixture.Silo.Gateway, ["GID_BLOB"] = fixture.Silo.Options.Blob, ["GID_DATA"] = dir };
        ProgramResult Animate(string output) => Programs.Run("dotnet",
            [Path.Combine(AppContext.BaseDirectory, "gid.dll"), "animate", picture, "--model", "anim-run", "--out", Path.Combine(dir, output), "--steps", "2", "--seconds", "0.2"],
            TimeSpan.FromMinutes(3), environment: env);

        var first = Animate("first.mp4");
        Assert.True(first.ExitCode == 0, first.Combined);
        Assert.Contains("pulling run anim-run step 10", first.Stdout);
        Assert.Contains("sha256 ok", first.Stdout);
        Assert.True(new FileInfo(Path.Combine(dir, "first.mp4")).Length > 0);
        var cached = Directory.GetDirectories(Path.Combine(dir, "models", "anim-run"));
        Assert.Single(cached);
        Assert.StartsWith("step-00000010-", Path.GetFileName(cached[0]));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "model-step-10", ModelBundle.LdmFile)), File.ReadAllBytes(Path.Combine(cached[0], ModelBundle.LdmFile)));

        var second = Animate("second.mp4");
        Assert.True(second.ExitCode == 0, second.Combined);
        Assert.Contains("run anim-run step 10, cached in", second.Stdout);
        Assert.DoesNotContain("sha256 ok", second.Stdout);

        await Record(20, seed: 2);
        var third = Animate("third.mp4");
        Assert.True(third.ExitCode == 0, third.Combined);
        Assert.Contains("pulling run anim-run step 20", third.Stdout);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "model-step-20", ModelBundle.RendererFile)),
            File.ReadAllBytes(Path.Combine(Directory.GetDirectories(Path.Combine(dir, "models", "anim-run"), "step-00000020-*").Single(), ModelBundle.RendererFile)));

        // Neither a folder nor a run of this cluster: one line naming the input.
        var unknown = Programs.Run("dotnet",
            [Path.Combine(AppContext.BaseDirectory, "gid.dll"), "animate", picture, "--model", "no-such-run", "--out", Path.Combine(dir, "x.mp4")],
            TimeSpan.FromMinutes(2), environment: env);
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("--model no-such-run: not a model folder, and no training run 'no-such-run'", unknown.Stderr);
    }
}
