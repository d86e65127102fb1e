package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Health is the answer of /healthz.
type Health struct {
	Status string `json:"status" example:"ok"`
}

// healthz answers while the process serves.
//
//	@Summary	Liveness
//	@Tags		operations
//	@Produce	json
//	@Success	200	{object}	Health
//	@Router		/healthz [get]
func (h *handler) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, Health{Status: "ok"})
}

// Component is the state of one part jwt-up depends on.
type Component struct {
	Status string `json:"status" example:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Readiness is the answer of /readyz. When not ready it is a problem
// document with the components as an extension member.
type Readiness struct {
	Status     string               `json:"status" example:"ready"`
	Components map[string]Component `json:"components"`
}

// unreadyProblem is a Problem carrying the components' states.
type unreadyProblem struct {
	Problem
	Components map[string]Component `json:"components"`
}

// readyz answers 200 when a signing key is loaded and the key store answered
// recently, and 503 from the moment shutdown starts. A degraded token cache
// does not make jwt-up unready: minting goes on without it.
//
//	@Summary	Readiness
//	@Tags		operations
//	@Produce	json
//	@Success	200	{object}	Readiness
//	@Failure	503	{object}	Problem	"shutting down, no signing key, or the key store has not answered recently; the body also lists the components"
//	@Router		/readyz [get]
func (h *handler) readyz(c *gin.Context) {
	ready := true
	comps := map[string]Component{}

	if h.cfg.Draining != nil && h.cfg.Draining() {
		comps["server"] = Component{Status: "draining", Detail: "shutting down: finishing the requests in flight"}
		ready = false
	}

	if kid := h.keys.ActiveKID(); kid != "" {
		comps["signing_key"] = Component{Status: "ok", Detail: "kid " + kid}
	} else {
		comps["signing_key"] = Component{Status: "down", Detail: "no key can sign"}
		ready = false
	}

	last, age := h.keys.LastLoad()
	switch {
	case last.IsZero():
		comps["key_store"] = Component{Status: "down", Detail: "never answered"}
		ready = false
	case age > h.cfg.StoreTimeout:
		comps["key_store"] = Component{Status: "down", Detail: "has not answered since " + last.UTC().Format(time.RFC3339)}
		ready = false
	default:
		comps["key_store"] = Component{Status: "ok", Detail: "last read " + last.UTC().Format(time.RFC3339)}
	}

	cache := "ok"
	if h.cfg.CacheState != nil {
		cache = h.cfg.CacheState(c.Request.Context())
	}
	comps["cache"] = Component{Status: cache}

	if !ready {
		c.Header("Content-Type", problemContentType)
		c.JSON(http.StatusServiceUnavailable, unreadyProblem{
			Problem:    newProblem(probUnready, "jwt-up cannot mint right now; see components"),
			Components: comps,
		})
		return
	}
	c.JSON(http.StatusOK, Readiness{Status: "ready", Components: comps})
}
