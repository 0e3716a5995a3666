namespace Pix2Pix.Api.Endpoints;

/// <summary>
/// The web dashboard's pages under <c>/ui/</c>: static HTML and ES modules in <c>wwwroot/ui</c> (served by
/// MapStaticAssets) that read the same REST API scripts use, with the browser session. These routes give the pages
/// addresses of their own (<c>/ui/jobs/{id}</c>, ...); like everything else they need a signed-in caller.
/// </summary>
public static class UiPages
{
    public static IEndpointRouteBuilder MapUiPages(this IEndpointRouteBuilder app)
    {
        (string Route, string File)[] pages =
        [
            ("/ui/", "index.html"), ("/ui/datasets", "datasets.html"), ("/ui/new-job", "new-job.html"),
            ("/ui/translate", "translate.html"), ("/ui/jobs/{id:guid}", "job.html"), ("/ui/models/{id:guid}", "model.html"),
        ];
        foreach (var (route, file) in pages)
            app.MapGet(route, (IWebHostEnvironment environment) => Page(environment, file)).ExcludeFromDescription();
        return app;
    }

    private static IResult Page(IWebHostEnvironment environment, string file)
    {
        var page = environment.WebRootFileProvider.GetFileInfo($"ui/{file}");
        return page.Exists ? TypedResults.Stream(page.CreateReadStream(), "text/html; charset=utf-8") : TypedResults.NotFound();
    }
}
