using System.Text.Json.Nodes;
using GidCluster.TestSupport;

namespace GidCluster.Azure.Tests.Manifests;

/// <summary>Renders a kustomization with the real kubectl and parses the YAML with Debian's python3-yaml (a dependency of python3-torch).</summary>
public static class Kustomize
{
    /// <summary>kubectl to use: <c>GID_KUBECTL</c> if set (e.g. to check an older kubectl), else the one on PATH.</summary>
    public static string Kubectl
    {
        get
        {
            var chosen = Environment.GetEnvironmentVariable("GID_KUBECTL");
            if (!string.IsNullOrEmpty(chosen))
                return chosen;
            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
            {
                var candidate = Path.Combine(dir, "kubectl");
                if (File.Exists(candidate))
                    return candidate;
            }
            throw new InvalidOperationException("kubectl is not installed: the manifest test needs `kubectl kustomize` (Debian's kubernetes-client, or any kubectl ≥ 1.14)");
        }
    }

    public static JsonArray Render(string directory)
    {
        var rendered = Programs.Run(Kubectl, ["kustomize", directory], TimeSpan.FromSeconds(60));
        if (rendered.ExitCode != 0)
            throw new InvalidOperationException($"kubectl kustomize {directory} failed ({rendered.ExitCode}):\n{rendered.Stderr}");
        const string toJson = "import sys, json, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d is not None]))";
        var parsed = Programs.Run(Programs.Python, ["-c", toJson], TimeSpan.FromSeconds(60), stdin: rendered.Stdout);
        if (parsed.ExitCode != 0)
            throw new InvalidOperationException($"the render of {directory} is not valid YAML:\n{parsed.Stderr}");
        return JsonNode.Parse(parsed.Stdout)!.AsArray();
    }
}
