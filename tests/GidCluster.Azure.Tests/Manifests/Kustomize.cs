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

    /// <summary>
    /// Which files under <paramref name="root"/> define or patch each object (<c>Kind/name</c>), so a problem found in the
    /// render can name the file to fix.
    /// </summary>
    public static Dictionary<string, List<string>> Sources(string root)
    {
        const string index = "import sys, os, json, yaml\nout = {}\nfor d, _, fs in os.walk(sys.argv[1]):\n"
            + "    for f in sorted(fs):\n        if not f.endswith('.yaml') or f == 'kustomization.yaml': continue\n"
            + "        p = os.path.join(d, f)\n        for o in yaml.safe_load_all(open(p)):\n"
            + "            if isinstance(o, dict) and 'kind' in o: out.setdefault(o['kind'] + '/' + o.get('metadata', {}).get('name', ''), []).append(os.path.relpath(p, sys.argv[1]))\n"
            + "print(json.dumps(out))";
        var run = Programs.Run(Programs.Python, ["-c", index, root], TimeSpan.FromSeconds(60));
        if (run.ExitCode != 0)
            throw new InvalidOperationException($"cannot read the manifests under {root}:\n{run.Stderr}");
        return System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, List<string>>>(run.Stdout)!;
    }

    /// <summary>The problem with the files of the object it starts with (base first, then the overlays that patch it).</summary>
    public static string WithFiles(string problem, Dictionary<string, List<string>> sources)
    {
        var id = problem.Split([' ', ':'], 2)[0];
        return sources.TryGetValue(id, out var files) ? $"{problem} [in {string.Join(", ", files.OrderBy(f => f.StartsWith("base/", StringComparison.Ordinal) ? 0 : 1))}]" : problem;
    }
}
