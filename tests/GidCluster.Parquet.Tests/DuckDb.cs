using System.Text.Json;
using System.Text.Json.Nodes;
using GidCluster.TestSupport;

namespace GidCluster.Parquet.Tests;

/// <summary>DuckDB (npm @duckdb/node-api under tests/js) as the independent Parquet reader and writer.</summary>
internal static class DuckDb
{
    private const string Script = """
        import { DuckDBInstance } from '@duckdb/node-api';
        import { readFileSync } from 'node:fs';
        const statements = JSON.parse(readFileSync(process.argv[1], 'utf8'));
        const instance = await DuckDBInstance.create(':memory:');
        const connection = await instance.connect();
        let rows = [];
        for (const sql of statements) {
          const reader = await connection.runAndReadAll(sql);
          rows = reader.getRowObjectsJson();
        }
        process.stdout.write(JSON.stringify(rows));
        """;

    public static string ToolsDir => Path.Combine(Paths.Repo, "tests", "js");

    /// <summary>Runs the statements in one in-memory database; returns the rows of the last one.</summary>
    public static JsonArray Run(params string[] statements)
    {
        if (!Directory.Exists(Path.Combine(ToolsDir, "node_modules", "@duckdb", "node-api")))
            throw new InvalidOperationException("DuckDB is not installed in tests/js: run ./gid once (it installs the npm test tools)");
        var file = Path.Combine(Path.GetTempPath(), $"gid-duckdb-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, JsonSerializer.Serialize(statements));
        try
        {
            var result = Programs.Run("node", ["--input-type=module", "-e", Script, file], TimeSpan.FromMinutes(2), ToolsDir);
            if (result.ExitCode != 0)
                throw new InvalidOperationException($"DuckDB failed ({result.ExitCode}):\n{result.Stderr}");
            return JsonNode.Parse(result.Stdout)!.AsArray();
        }
        finally
        {
            File.Delete(file);
        }
    }

    public static string Quote(string s) => "'" + s.Replace("'", "''") + "'";
}
