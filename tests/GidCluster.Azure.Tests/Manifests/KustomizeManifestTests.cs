using GidCluster.TestSupport;
using Xunit;

namespace GidCluster.Azure.Tests.Manifests;

/// <summary>
/// Renders the example overlays with the real <c>kubectl kustomize</c> and validates the objects
/// offline; then proves the validation can fail by breaking copies of the manifests one way at a time.
/// </summary>
public sealed class KustomizeManifestTests
{
    private static string K8s => Path.Combine(Paths.Repo, "k8s");

    [Fact]
    public void The_gpu_16_overlay_renders_2_pods_of_8_GPUs_and_passes_the_offline_checks()
    {
        var report = ManifestValidator.Validate(Kustomize.Render(Path.Combine(K8s, "overlays", "gpu-16")), "gid");
        Assert.Empty(report.Problems);
        Assert.Equal((2, 8, 16), (report.Pods, report.GpusPerPod, report.WorldSize));
    }

    [Fact]
    public void The_workload_identity_overlay_reaches_blobs_with_no_key_in_any_secret()
    {
        var objects = Kustomize.Render(Path.Combine(K8s, "overlays", "workload-identity"));
        Assert.Empty(ManifestValidator.Validate(objects, "gid").Problems);
        var text = objects.ToJsonString();
        Assert.DoesNotContain("AZURE_STORAGE_CONNECTION_STRING", text);
        Assert.DoesNotContain("AccountKey", text);
        Assert.DoesNotContain(objects, o => (string?)o!["metadata"]!["name"] == "gid-storage");
        Assert.Contains("azure://gid-data?account=", text);
        var pods = objects.Where(o => (string?)o!["kind"] is "Deployment" or "Job").ToList();
        Assert.Equal(3, pods.Count);
        Assert.All(pods, o =>
        {
            Assert.Equal("gid", (string?)o!["spec"]!["template"]!["spec"]!["serviceAccountName"]);
            Assert.Equal("true", (string?)o["spec"]!["template"]!["metadata"]!["labels"]!["azure.workload.identity/use"]);
        });
        Assert.Contains(objects, o => (string?)o!["kind"] == "ServiceAccount" && (string?)o["metadata"]!["namespace"] == "gid");
    }

    public static TheoryData<string, string, string, string, string?> Breakages => new()
    {
        // file under k8s/, text to replace, replacement, expected problem (substring), file the problem must name (if checked)
        { "overlays/gpu-16/training.yaml", "value: \"16\"", "value: \"12\"", "WORLD_SIZE (12) must be parallelism (2) × NPROC_PER_NODE (8)", null },
        { "overlays/gpu-16/training.yaml", "nvidia.com/gpu: \"8\"\n            limits", "nvidia.com/gpu: \"4\"\n            limits", "nvidia.com/gpu request (4) and limit (8)", null },
        { "overlays/gpu-16/training.yaml", "  parallelism: 2", "  parallelism: 3", "parallelism (3) and completions (2)", null },
        { "base/training.yaml", "  backoffLimit: 3\n", "  backoffLimit: 0\n", "backoffLimit must be at least 1", null },
        { "base/training.yaml", "                  fieldPath: status.podIP\n", "                  fieldPath: status.hostIP\n", "no POD_IP from the downward API (status.podIP)", null },
        { "base/training.yaml", "\"train\", \"join\"", "\"train\", \"rank\"", "must run `gid train join --run RUN`", null },
        { "base/coordinator.yaml", "          readinessProbe:\n            httpGet:\n              path: /healthz\n              port: http\n            periodSeconds: 5\n", "", "container 'silo': no readinessProbe", null },
        { "base/worker.yaml", "path: /healthz\n              port: http\n            periodSeconds: 10", "path: /healthz\n              port: admin\n            periodSeconds: 10", "uses port 'admin'", null },
        { "base/coordinator.yaml", "name: gid-token", "name: gid-tokens", "refers to Secret 'gid-tokens'", null },
        { "base/worker.yaml", "key: connection-string", "key: connectionstring", "key 'connectionstring' of Secret 'gid-storage'", null },
        { "base/worker.yaml", "image: ghcr.io/gidcluster/silo", "image: nginx", "image 'nginx'", null },
        { "overlays/gpu-16/kustomization.yaml", "    newTag: \"0.1.0\"\n", "    newTag: latest\n", "pinned tag", null },
        { "base/worker.yaml", "\"--role\", \"worker\"", "\"--role\", \"helper\"", "--role is 'helper'", null },
        { "base/coordinator.yaml", "              cpu: 500m\n", "", "resources.requests needs cpu and memory", null },
        { "base/secrets.yaml", "AccountKey=REPLACE-ME-base64-account-key", "AccountKey=" + Convert.ToBase64String(new byte[64]), "looks like a real account key", null },
        { "base/coordinator.yaml", "  blob: azure://gid-data", "  blobs: azure://gid-data", "key 'blob' of ConfigMap 'gid-config'", null },
        { "base/training.yaml", "              value: /etc/gid/tls/ca.crt\n", "              value: /tmp/ca.crt\n", "GID_TLS_CA is not a file in a mounted volume", null },
        { "base/rbac.yaml", "\"patch\", \"delete\"]", "\"patch\"]", "Role/gid-silo: no 'delete' on pods", "base/rbac.yaml" },
        { "base/worker.yaml", "            - name: POD_NAMESPACE\n              valueFrom:\n                fieldRef:\n                  fieldPath: metadata.namespace\n", "", "no POD_NAMESPACE from the downward API", "base/worker.yaml" },
        { "base/coordinator.yaml", "\"--gateway-port\", \"30000\"", "\"--gateway-port\", \"30001\"", "gateway port 30001 (--gateway-port) is not a containerPort", "base/coordinator.yaml" },
        { "base/coordinator.yaml", "      port: 30000\n      targetPort: gateway", "      port: 30000\n      targetPort: 30001", "Service/gid-gateway: targetPort 30001 is not a port", "base/coordinator.yaml" },
    };

    [Theory]
    [MemberData(nameof(Breakages))]
    public void A_broken_copy_of_the_manifests_is_caught(string file, string find, string replace, string expected, string? namedFile)
    {
        using var copy = Paths.NewTempDir("gid-k8s");
        CopyTree(K8s, copy.Path);
        var target = Path.Combine(copy.Path, file);
        var text = File.ReadAllText(target);
        Assert.Contains(find, text); // the breakage must apply, or this test proves nothing
        File.WriteAllText(target, text.Replace(find, replace));

        var report = ManifestValidator.Validate(Kustomize.Render(Path.Combine(copy.Path, "overlays", "gpu-16")), "gid");
        var sources = Kustomize.Sources(copy.Path);
        var problems = report.Problems.Select(p => Kustomize.WithFiles(p, sources)).ToList();
        Assert.Contains(problems, p => p.Contains(expected, StringComparison.Ordinal) && (namedFile is null || p.Contains(namedFile, StringComparison.Ordinal)));
    }

    [Fact]
    public void The_launcher_gives_every_process_its_rank_and_fails_when_a_rank_fails()
    {
        var objects = Kustomize.Render(Path.Combine(K8s, "overlays", "gpu-16"));
        var script = (string)objects.Single(o => (string?)o!["metadata"]!["name"] == "gid-train-launch")!["data"]!["launch.sh"]!;
        using var dir = Paths.NewTempDir("gid-launch");
        File.WriteAllText(Path.Combine(dir.Path, "launch.sh"), script);
        // The launcher runs `gid ARGS`; this `gid` reports the environment it was given, and fails for one rank when asked.
        var gid = Path.Combine(dir.Path, "gid");
        File.WriteAllText(gid, "#!/bin/sh\necho \"$RANK $LOCAL_RANK $WORLD_SIZE $*\"\n[ \"${FAIL_RANK:-}\" != \"$RANK\" ]\n");
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(gid, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Dictionary<string, string?> Env(string? failRank) => new()
        {
            ["PATH"] = $"{dir.Path}:/usr/bin:/bin",
            ["NODE_RANK"] = "1",
            ["NPROC_PER_NODE"] = "8",
            ["WORLD_SIZE"] = "16",
            ["FAIL_RANK"] = failRank,
        };

        var ok = Programs.Run("/bin/sh", [Path.Combine(dir.Path, "launch.sh"), "train", "join", "--run", "stage1"], TimeSpan.FromSeconds(30), environment: Env(null));
        Assert.Equal(0, ok.ExitCode);
        var lines = ok.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order().ToList();
        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"{8 + i} {i} 16 train join --run stage1").Order(), lines);

        var failed = Programs.Run("/bin/sh", [Path.Combine(dir.Path, "launch.sh"), "train"], TimeSpan.FromSeconds(30), environment: Env("11"));
        Assert.NotEqual(0, failed.ExitCode);
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var dir in Directory.GetDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }
}
