using GidCluster.TestSupport;
using Xunit;

namespace GidCluster.Foundation.Tests;

/// <summary>
/// The ./gid setup path, exercised through its environment overrides rather than by breaking
/// the machine: a package nobody has, a pretend non-root user, and the dry-run mode.
/// </summary>
public class SetupScriptTests
{
    private static ProgramResult Gid(Dictionary<string, string?> env, params string[] args) =>
        Programs.Run("bash", new[] { Path.Combine(Paths.Repo, "gid") }.Concat(args), TimeSpan.FromMinutes(3), environment: env);

    [Fact]
    public void Without_root_a_missing_package_is_named_and_nothing_runs()
    {
        var r = Gid(new() { ["GID_SETUP_AS_USER"] = "1", ["GID_EXTRA_APT_PACKAGES"] = "gid-test-absent-package" }, "--help");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("missing Debian packages: gid-test-absent-package", r.Stderr);
        Assert.Contains("needs root", r.Stderr);
        Assert.DoesNotContain("Commands:", r.Stdout); // the client did not run
    }

    [Fact]
    public void A_package_missing_from_the_apt_sources_is_named()
    {
        if (Environment.UserName != "root")
            return; // only root reaches the apt step; the non-root path is the test above
        var r = Gid(new() { ["GID_EXTRA_APT_PACKAGES"] = "gid-test-absent-package" }, "--help");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("not available from the configured apt sources: gid-test-absent-package", r.Stderr);
    }

    [Fact]
    public void Dry_run_lists_what_is_missing_and_changes_nothing()
    {
        var r = Gid(new() { ["GID_SETUP_DRY_RUN"] = "1", ["GID_EXTRA_APT_PACKAGES"] = "gid-test-absent-package" });
        Assert.Equal(3, r.ExitCode);
        Assert.Contains("apt-get install gid-test-absent-package", r.Stderr);
    }

    [Fact]
    public void After_a_build_the_machine_is_ready_so_the_next_call_neither_installs_nor_builds()
    {
        var r = Gid(new() { ["GID_SETUP_DRY_RUN"] = "1" });
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("this machine is ready", r.Stderr);
    }

    [Fact]
    public void Help_lists_the_commands()
    {
        var r = Gid(new() { ["GID_SETUP_QUIET"] = "1" }, "--help");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("demo", r.Stdout);
        Assert.Contains("test", r.Stdout);
    }
}
