package graph

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/switchboard-dev/switchboard/apperr"
	"github.com/switchboard-dev/switchboard/auth"
	"github.com/switchboard-dev/switchboard/graph/generated"
)

// Options configure the GraphQL handler.
type Options struct {
	Logger          *slog.Logger
	Authenticator   *auth.Authenticator // for websocket connection_init payloads
	ComplexityLimit int                 // the most complex operation accepted (see limits.go); 0 means no limit
	DepthLimit      int                 // the deepest nesting of fields accepted; 0 means no limit
	TokenLimit      int                 // the most tokens a query document may hold; 0 means no limit
	Introspection   bool                // serve __schema and __type (the playground needs it)
}

// NewHandler returns the GraphQL endpoint: POST, GET and graphql-transport-ws. HTTP requests are
// expected to have gone through auth.Middleware; every operation except pure introspection needs
// an authenticated caller, and mutations need the write scope.
//
// Before anything is resolved, and before the caller is even authenticated, an operation is
// refused when its text is longer than MaxQueryBytes or holds more than TokenLimit tokens, when
// it asks for a page larger than MaxPageSize, passes an argument beyond MaxArgumentItems,
// MaxArgumentDepth or MaxFilterStringLen, or arguments beyond MaxArgumentValues in all, nests
// deeper than DepthLimit or costs more than ComplexityLimit, and when it introspects with
// introspection off. A connection asked for without first or last gets first: MaxPageSize.
func NewHandler(r *Resolver, opts Options) http.Handler {
	srv := handler.New(generated.NewExecutableSchema(generated.Config{Resolvers: r}))
	srv.AddTransport(transport.Websocket{
		KeepAlivePingInterval: 10 * time.Second,
		InitFunc: func(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
			v, err := opts.Authenticator.AuthenticateToken(payload.Authorization())
			if err != nil {
				return ctx, nil, err
			}
			return auth.NewContext(ctx, v), nil, nil
		},
	})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})

	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.SetParserTokenLimit(opts.TokenLimit)
	srv.Use(queryLength{}) // before the persisted-query cache stores the text
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	if opts.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.Use(noIntrospection{})
	}
	srv.Use(&limits{maxDepth: opts.DepthLimit, maxComplexity: opts.ComplexityLimit})

	presentCoded := presentError(opts.Logger)
	present := func(ctx context.Context, err error) *gqlerror.Error {
		return presentCoded(ctx, explainOperationChoice(ctx, err))
	}
	srv.SetErrorPresenter(present)
	srv.SetRecoverFunc(func(ctx context.Context, p any) error {
		opts.Logger.ErrorContext(ctx, "panic in resolver", "panic", p)
		return &apperr.Error{Code: apperr.Internal}
	})
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if err := authorize(ctx); err != nil {
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{present(ctx, err)}})
		}
		return next(ctx)
	})
	return srv
}

// authorize lets pure introspection through, needs a caller for everything else, and the write
// scope for mutations.
func authorize(ctx context.Context) error {
	oc := graphql.GetOperationContext(ctx)
	if onlyIntrospection(oc) {
		return nil
	}
	v, ok := auth.FromContext(ctx)
	if !ok {
		if err := auth.ErrorFromContext(ctx); err != nil && !errors.Is(err, auth.ErrNoCredentials) {
			return apperr.Unauthenticatedf("%s: send a valid token as Authorization: Bearer <token>", err.Error())
		}
		return apperr.Unauthenticatedf("this operation needs a token: send Authorization: Bearer <token>")
	}
	if oc.Operation.Operation == ast.Mutation && !v.Write {
		return apperr.Forbiddenf("this token is read-only: mutations need the telephony:write scope")
	}
	if !v.Read {
		return apperr.Forbiddenf("this token may not read: it needs the telephony:read scope")
	}
	return nil
}

func onlyIntrospection(oc *graphql.OperationContext) bool {
	if oc.Operation.Operation != ast.Query {
		return false
	}
	for _, f := range graphql.CollectFields(oc, oc.Operation.SelectionSet, nil) {
		switch f.Name {
		case "__schema", "__type", "__typename":
		default:
			return false
		}
	}
	return true
}
