// The silo host. For now it only answers liveness; roles, API and dashboard come with the
// cluster issue (README: "Not built yet").
var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();
app.MapGet("/healthz", () => Results.Ok(new { status = "ok" }));
app.Run();
